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
  - Host files live in C(hosts/) (C(hosts/<name>.key), C(hosts/<name>.crt)), apart from the CA, so no inventory name
    can reach the CA's files; files of an earlier layout (C(<name>.key) beside the CA) are moved there.
  - Refuses a C(ca.crt) that is not a CA certificate or does not match C(ca.key).
  - C(ca-bundle.crt) holds every CA the hosts trust; O(rotation) replaces the CA in three converges that each leave
    the stack working, see O(rotation).
  - Warns when the CA expires within O(ca_renew_days).
options:
  dir: {description: Controller directory of the CA and the certificates (0700)., type: path, required: true}
  ca_name: {description: Common name of a new CA., type: str, default: Monitoring stack internal CA}
  ca_days: {description: Lifetime of a new CA., type: int, default: 3650}
  ca_renew_days: {description: Warn when the CA expires within this many days., type: int, default: 180}
  cert_days: {description: Lifetime of a host certificate., type: int, default: 365}
  renew_days: {description: Re-issue a host certificate that expires within this many days., type: int, default: 30}
  rotation:
    description:
      - "V(stage): create the next CA (C(ca-next.*)) and trust it beside the current one; certificates stay."
      - "V(switch): the next CA signs from now on (the old one becomes C(ca-previous.*), still trusted); every
        host certificate is re-issued."
      - "V(finish): trust only the current CA (C(ca-previous.*) removed; a staged C(ca-next.*) that was never
        switched is dropped). Empty: no step; each step repeated changes nothing."
    type: str
    default: ""
    choices: ["", stage, switch, finish]
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
trusted: {description: Common names of the CAs in ca-bundle.crt., type: list, elements: str, returned: always}
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


def _is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _checked_ca(directory, stem):
    """(key, certificate) of <stem>.key/.crt, refused unless the certificate is a CA and matches the key."""
    crt = os.path.join(directory, stem + ".crt")
    cert = _load_cert(crt)
    if cert is None:
        raise ValueError(f"{crt}: not a PEM certificate")
    if not _is_ca(cert):
        raise ValueError(f"{crt} is not a CA certificate; refusing to sign with it (host files belong in hosts/)")
    with open(os.path.join(directory, stem + ".key"), "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    if cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != _public(key):
        raise ValueError(f"{crt} does not match {stem}.key; put back the pair that belongs together")
    return key, cert


def new_ca(directory, stem, params, check_mode):
    """A new CA in <stem>.key/.crt (not written in check mode): (key, certificate)."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, params["ca_name"]),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, str(x509.random_serial_number()))])
    cert = (_builder(name, name, key.public_key(), params["ca_days"])
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    if not check_mode:
        _write(os.path.join(directory, stem + ".key"), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
        _write(os.path.join(directory, stem + ".crt"), cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key, cert


def ensure_ca(params, check_mode):
    """(CA key, CA certificate, created): the CA in ca.key/ca.crt, checked, or a new one when both are missing."""
    directory = params["dir"]
    have = [os.path.exists(os.path.join(directory, f"ca.{ext}")) for ext in ("key", "crt")]
    if all(have):
        return _checked_ca(directory, "ca") + (False,)
    if any(have):
        missing = "ca.crt" if have[0] else "ca.key"
        raise ValueError(f"{directory}/{missing} is missing beside its pair; restore it, or move both away to start "
                         "a new CA (every host certificate is then re-issued; to keep the stack working use "
                         "monitoring_pki_ca_rotation instead)")
    return new_ca(directory, "ca", params, check_mode) + (True,)


def rotate(params, check_mode, result):
    """One step of a CA rotation (params["rotation"]); notes what it changed in result["rotated"]."""
    directory, step = params["dir"], params.get("rotation") or ""
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    staged, previous = os.path.exists(path("ca-next.key")), os.path.exists(path("ca-previous.crt"))
    if step == "stage" and not staged:
        if previous:
            raise ValueError("monitoring_pki_ca_rotation: stage: the last rotation is not finished "
                             "(ca-previous.crt exists); run it with finish first")
        new_ca(directory, "ca-next", params, check_mode)
        result["rotated"] = "staged a new CA beside the current one"
    elif step == "switch" and staged:
        _checked_ca(directory, "ca-next")
        if not check_mode:
            for ext in ("key", "crt"):
                os.replace(path(f"ca.{ext}"), path(f"ca-previous.{ext}"))
                os.replace(path(f"ca-next.{ext}"), path(f"ca.{ext}"))
        result["rotated"] = "the staged CA signs now; the previous one is still trusted"
    elif step == "switch" and not previous:
        raise ValueError("monitoring_pki_ca_rotation: switch needs a staged CA: converge every host with stage first")
    elif step == "finish" and (staged or previous):
        if not check_mode:
            for name in ("ca-next.key", "ca-next.crt", "ca-previous.key", "ca-previous.crt"):
                if os.path.exists(path(name)):
                    os.remove(path(name))
        result["rotated"] = "only the current CA is trusted"


def trust_bundle(params, ca_cert, check_mode):
    """ca-bundle.crt: the current CA, then the staged and the previous one where they exist. (changed, names)."""
    certs = [ca_cert] + [c for c in (_load_cert(os.path.join(params["dir"], f"{stem}.crt"))
                                     for stem in ("ca-next", "ca-previous")) if c is not None]
    if params.get("rotation") == "finish":
        certs = certs[:1]
    data = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    path = os.path.join(params["dir"], "ca-bundle.crt")
    try:
        with open(path, "rb") as handle:
            current = handle.read()
    except OSError:
        current = None
    if current != data and not check_mode:
        _write(path, data, 0o644)
    names = [c.subject.rfc4514_string() for c in certs]
    return current != data, names


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


RESERVED = {"ca", "ca-next", "ca-previous", "ca-bundle"}


def migrate(directory, name, check_mode):
    """Move a host's files of the earlier layout (beside the CA) into hosts/; never the CA's own files."""
    if name in RESERVED or check_mode:
        return
    for ext in ("key", "crt"):
        old, new = os.path.join(directory, f"{name}.{ext}"), os.path.join(directory, "hosts", f"{name}.{ext}")
        if os.path.exists(old) and not os.path.exists(new):
            os.replace(old, new)


def run(params, check_mode):
    """The module's work: {'changed', 'issued', 'ca_created', 'ca_not_after', 'trusted', 'warnings', 'reasons'}."""
    hosts_dir = os.path.join(params["dir"], "hosts")
    if not check_mode:
        for directory in (params["dir"], hosts_dir):
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700)
    result = {"issued": [], "reasons": {}, "warnings": []}
    for host in params["hosts"]:
        if not host["name"] or "/" in host["name"] or host["name"] in (".", ".."):
            raise ValueError(f"host name {host['name']!r} cannot be a file name")
        for san in host["sans"]:
            _general_name(san)  # a bad SAN fails before anything is signed
    if os.path.exists(os.path.join(params["dir"], "ca.key")):
        rotate(params, check_mode, result)
    ca_key, ca_cert, result["ca_created"] = ensure_ca(params, check_mode)
    if check_mode and result.get("rotated", "").startswith("the staged CA"):
        ca_key, ca_cert = _checked_ca(params["dir"], "ca-next")
    bundle_changed, result["trusted"] = trust_bundle(params, ca_cert, check_mode)
    result["ca_not_after"] = _not_after(ca_cert).isoformat()
    if _not_after(ca_cert) <= NOW + datetime.timedelta(days=params["ca_renew_days"]):
        result["warnings"].append(
            f"the internal CA {params['dir']}/ca.crt expires on {result['ca_not_after']}, within "
            f"monitoring_pki_ca_renew_days ({params['ca_renew_days']}). Renew it without an outage: converge with "
            "monitoring_pki_ca_rotation set to stage, then switch, then finish.")
    for host in params["hosts"]:
        migrate(params["dir"], host["name"], check_mode)
        base = os.path.join(hosts_dir, host["name"])
        key, key_created = _key(base + ".key", ec.SECP256R1(), check_mode)
        reason = "new key" if key_created else host_due(host, key, _load_cert(base + ".crt"), ca_cert,
                                                        params["renew_days"])
        if reason:
            result["issued"].append(host["name"])
            result["reasons"][host["name"]] = reason
            if not check_mode:
                cert = sign_host(host, key, ca_key, ca_cert, params["cert_days"])
                _write(base + ".crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    result["changed"] = bool(result["issued"] or result["ca_created"] or bundle_changed or result.get("rotated"))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dir=dict(type="path", required=True), ca_name=dict(type="str", default="Monitoring stack internal CA"),
            ca_days=dict(type="int", default=3650), ca_renew_days=dict(type="int", default=180),
            cert_days=dict(type="int", default=365), renew_days=dict(type="int", default=30),
            rotation=dict(type="str", default="", choices=["", "stage", "switch", "finish"]),
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
