"""Grafana provisioning values as written: Grafana expands $VAR, ${VAR} and $__env{...} in provisioning files,
so a literal $ (in a password, or $labels in a notification template) is written as $$. And the fingerprints of
an OpenPGP key file, to pin the package repository's signing key without gpg on the host."""
import base64
import hashlib


def _escape(value):
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _escape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape(item) for item in value]
    return value


def grafana_escape_secure(datasources):
    """Datasources with every secureJsonData value escaped (the rest stays: $__env{} there is the operator's)."""
    return [dict(ds, secureJsonData=_escape(ds["secureJsonData"])) if isinstance(ds, dict) and "secureJsonData" in ds
            else ds for ds in datasources or []]


def grafana_escape(value):
    """Every string of a provisioning structure escaped (contact points: secrets and Go templates with $)."""
    return _escape(value)


def _packets(data):
    """(tag, body) of each OpenPGP packet (RFC 4880 section 4.2: old and new formats)."""
    pos = 0
    while pos < len(data):
        head = data[pos]
        if not head & 0x80:
            raise ValueError("not an OpenPGP key")
        if head & 0x40:  # new format
            tag, pos = head & 0x3F, pos + 1
            first = data[pos]
            if first < 192:
                length, pos = first, pos + 1
            elif first < 224:
                length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif first == 255:
                length, pos = int.from_bytes(data[pos + 1:pos + 5], "big"), pos + 5
            else:
                raise ValueError("partial body lengths do not occur in keys")
        else:
            tag, size = (head >> 2) & 0x0F, head & 0x03
            width = {0: 1, 1: 2, 2: 4}.get(size)
            if width is None:
                raise ValueError("indeterminate packet length")
            length, pos = int.from_bytes(data[pos + 1:pos + 1 + width], "big"), pos + 1 + width
        if pos + length > len(data):
            raise ValueError("truncated packet")
        yield tag, data[pos:pos + length]
        pos += length


def grafana_key_fingerprints(text, encoding=""):
    """Upper-case hex fingerprints of the primary keys in an armored or binary OpenPGP key (v4: SHA-1);
    encoding "base64" for the content of ansible.builtin.slurp."""
    try:
        if encoding == "base64":
            data = base64.b64decode(text)
        else:
            data = text.encode("latin-1") if isinstance(text, str) else bytes(text)
        if data.lstrip().startswith(b"-----BEGIN PGP"):
            lines = data.decode("ascii").strip().splitlines()
            body = lines[lines.index(next(line for line in lines[1:] if not line.strip())) + 1:]
            data = base64.b64decode("".join(line for line in body if not line.startswith(("=", "-----"))))
        return [hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
                for tag, body in _packets(data) if tag == 6 and body[:1] == b"\x04"]
    except (ValueError, IndexError, StopIteration):
        return []  # not a key (an error page, a truncated download): matches no pin


class FilterModule:
    def filters(self):
        return {"grafana_escape_secure": grafana_escape_secure, "grafana_escape": grafana_escape,
                "grafana_key_fingerprints": grafana_key_fingerprints}
