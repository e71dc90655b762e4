"""A hypothesis strategy for mutating a valid seed file: byte flips, overwrites, truncation, insertion."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def mutated(draw, seed: bytes, max_edits: int = 8, region: tuple[int, int] | None = None) -> bytes:
    data = bytearray(seed)
    start, end = region or (0, len(data))
    for _ in range(draw(st.integers(0, max_edits))):
        kind = draw(st.sampled_from(["flip", "byte", "dword", "zero", "ff", "splice"]))
        at = draw(st.integers(start, max(start, end - 1)))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[at] = draw(st.integers(0, 255))
        elif kind == "dword":
            value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0, 0x10000]))
            data[at:at + 4] = value.to_bytes(4, "little")
        elif kind in ("zero", "ff"):
            length = draw(st.integers(1, 4096))
            data[at:at + length] = (b"\0" if kind == "zero" else b"\xff") * len(data[at:at + length])
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    if draw(st.booleans()) and draw(st.integers(0, 4)) == 0:
        del data[draw(st.integers(start, len(data))):]
    return bytes(data)
