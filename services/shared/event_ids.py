"""Event ids that are a function of where the event came from (so a replay makes the same ids): uuid5, made
for the hot paths with the namespace's hash computed once and the text built without a UUID object."""

import hashlib
import uuid


class NamedIds:
    """ids(name) == str(uuid.uuid5(namespace, prefix + name))."""

    def __init__(self, namespace: uuid.UUID, prefix: str = ""):
        self._hashed = hashlib.sha1(namespace.bytes + prefix.encode())  # noqa: S324 - uuid5 is SHA-1 by definition

    def __call__(self, name: str) -> str:
        digest = self._hashed.copy()
        digest.update(name.encode())
        b = bytearray(digest.digest()[:16])
        b[6] = (b[6] & 0x0F) | 0x50  # version 5
        b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
        h = b.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
