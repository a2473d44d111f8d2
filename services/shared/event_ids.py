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
        h = digest.hexdigest()
        # The first 16 bytes, with the version (5) and the RFC 4122 variant written into their hex digits.
        return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 0x3] for digit in "0123456789abcdef"}
