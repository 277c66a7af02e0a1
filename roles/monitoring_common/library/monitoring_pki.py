#!/usr/bin/python
# -*- coding: utf-8 -*-
# Apache-2.0, monitoring-stack
"""The internal CA and every host certificate in one pass on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: monitoring_pki
short_description: Internal CA and per-host certificates, checked and signed in one pass
description:
  - Internal to the monitoring roles; runs once per play on the controller. Creates the CA (EC P-384) when it is
    missing, then reads every host's certificate once and signs a new one only when it is missing, expires within
    O(renew_days), does not match the host's key, names other SANs than O(hosts[].sans), or was not signed by
    the CA (a renewed CA re-issues every certificate). A converged run reads files and writes nothing.
  - Warns when the CA expires within O(ca_renew_days).
options:
  dir: {description: Controller directory of the CA and the certificates (0700)., type: path, required: true}
  ca_name: {description: Common name of a new CA., type: str, default: Monitoring stack internal CA}
  ca_days: {description: Lifetime of a new CA., type: int, default: 3650}
  ca_renew_days: {description: Warn when the CA expires within this many days., type: int, default: 180}
  cert_days: {description: Lifetime of a host certificate., type: int, default: 365}
  renew_days: {description: Re-issue a host certificate that expires within this many days., type: int, default: 30}
  hosts:
    description: The hosts to certify.
    type: list
    elements: dict
    required: true
    options:
      name: {description: Inventory name (common name and file name)., type: str, required: true}
      sans: {description: "Subject alternative names: C(DNS:name) or C(IP:address)., type: list, elements: str, required: true}
author: monitoring-stack
"""

EXAMPLES = r"""
- name: Issue or renew the host certificates
  monitoring_pki:
    dir: "{{ inventory_dir }}/pki"
    hosts:
      - {name: node1, sans: ["DNS:node1", "DNS:localhost", "IP:127.0.0.1", "IP:10.0.0.11"]}
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
issued: {description: Hosts whose certificate was (or in check mode would be) signed., type: list, elements: str, returned: always}
ca_created: {description: Whether the CA was (or would be) created., type: bool, returned: always}
ca_not_after: {description: Expiry of the CA (ISO 8601)., type: str, returned: when the CA exists}
"""

import datetime
import ipaddress
import os

from ansible.module_utils.basic import AnsibleModule

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_CRYPTOGRAPHY = False

NOW = datetime.datetime.now(datetime.timezone.utc)


def _write(path, data, mode):
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _key(path, curve, check_mode):
    """(private key, created): the key at path, else a new one (written unless check mode)."""
    if os.path.exists(path):
        with open(path, "rb") as handle:
            return serialization.load_pem_private_key(handle.read(), None), False
    key = ec.generate_private_key(curve)
    if not check_mode:
        _write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), 0o600)
    return key, True


def _load_cert(path):
    try:
        with open(path, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return None


def _not_after(cert):
    return cert.not_valid_after_utc if hasattr(cert, "not_valid_after_utc") else \
        cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def _general_name(san):
    kind, _, value = san.partition(":")
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "DNS":
        return x509.DNSName(value)
    raise ValueError(f"SAN {san!r}: expected DNS:<name> or IP:<address>")


def _sans_of(cert):
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)} | \
        {f"IP:{n}" for n in names.get_values_for_type(x509.IPAddress)}


def _public(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _signed_by(cert, ca_cert):
    try:
        cert.verify_directly_issued_by(ca_cert)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _builder(subject, issuer, public_key, days):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(hours=1))
            .not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def ensure_ca(params, check_mode):
    """(CA key, CA certificate or None in check mode before it exists, created)."""
    key, key_created = _key(os.path.join(params["dir"], "ca.key"), ec.SECP384R1(), check_mode)
    path = os.path.join(params["dir"], "ca.crt")
    cert = None if key_created else _load_cert(path)
    if cert is not None:
        return key, cert, False
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, params["ca_name"])])
    cert = (_builder(name, name, key.public_key(), params["ca_days"])
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    if not check_mode:
        _write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key, cert, True


def host_due(host, key, cert, ca_cert, renew_days):
    """Why the host's certificate must be signed, or '' when it is current."""
    if cert is None:
        return "missing"
    if _not_after(cert) <= NOW + datetime.timedelta(days=renew_days):
        return "expires soon"
    if cert.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo) != _public(key):
        return "key changed"
    if _sans_of(cert) != set(host["sans"]):
        return "names changed"
    if not _signed_by(cert, ca_cert):
        return "another CA"
    return ""


def sign_host(host, key, ca_key, ca_cert, days):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host["name"])])
    return (_builder(subject, ca_cert.subject, key.public_key(), days)
            .add_extension(x509.SubjectAlternativeName([_general_name(s) for s in host["sans"]]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def run(params, check_mode):
    """The module's work: {'changed', 'issued', 'ca_created', 'ca_not_after', 'warnings', 'reasons'}."""
    if not os.path.isdir(params["dir"]) and not check_mode:
        os.makedirs(params["dir"], mode=0o700)
    result = {"issued": [], "reasons": {}, "warnings": []}
    ca_key, ca_cert, result["ca_created"] = ensure_ca(params, check_mode)
    result["ca_not_after"] = _not_after(ca_cert).isoformat()
    if _not_after(ca_cert) <= NOW + datetime.timedelta(days=params["ca_renew_days"]):
        result["warnings"].append(
            f"the internal CA {params['dir']}/ca.crt expires on {result['ca_not_after']}, within "
            f"monitoring_pki_ca_renew_days ({params['ca_renew_days']}). Renew it: move ca.crt and ca.key away and "
            "run site.yml; every host certificate is then re-issued and the services reload or restart.")
    for host in params["hosts"]:
        for san in host["sans"]:
            _general_name(san)  # a bad SAN fails before anything is signed
        base = os.path.join(params["dir"], host["name"])
        key, key_created = _key(base + ".key", ec.SECP256R1(), check_mode)
        reason = "new key" if key_created else host_due(host, key, _load_cert(base + ".crt"), ca_cert,
                                                        params["renew_days"])
        if reason:
            result["issued"].append(host["name"])
            result["reasons"][host["name"]] = reason
            if not check_mode:
                cert = sign_host(host, key, ca_key, ca_cert, params["cert_days"])
                _write(base + ".crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    result["changed"] = bool(result["issued"] or result["ca_created"])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dir=dict(type="path", required=True), ca_name=dict(type="str", default="Monitoring stack internal CA"),
            ca_days=dict(type="int", default=3650), ca_renew_days=dict(type="int", default=180),
            cert_days=dict(type="int", default=365), renew_days=dict(type="int", default=30),
            hosts=dict(type="list", elements="dict", required=True,
                       options=dict(name=dict(type="str", required=True),
                                    sans=dict(type="list", elements="str", required=True)))),
        supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg="monitoring_pki needs the Python cryptography library on the controller")
    try:
        result = run(module.params, module.check_mode)
    except (OSError, ValueError) as err:
        module.fail_json(msg=f"monitoring_pki: {err}")
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
