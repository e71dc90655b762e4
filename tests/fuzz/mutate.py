"""A hypothesis strategy for mutating a valid seed file: byte flips, overwrites, truncation, insertion.

The strategy yields a ``Mutation``: the seed (shared, never copied) and a short
list of edits; ``bytes(mutation)`` applies them. Hypothesis keeps the values it
generated, so yielding the mutated file itself cost a seed's size per example:
6 MiB each for the VHDX seed, gigabytes after a thousand examples (found when
``make fuzz`` ran out of memory under its ``ulimit -v``).
"""

from __future__ import annotations

from hypothesis import strategies as st


class Mutation:
    __slots__ = ("seed", "edits", "after")

    def __init__(self, seed: bytes, edits: list[tuple], after=None) -> None:
        self.seed, self.edits, self.after = seed, edits, after

    def __bytes__(self) -> bytes:
        data = bytearray(self.seed)
        for kind, at, value in self.edits:
            if kind == "flip":
                data[at] ^= 1 << value
            elif kind == "byte":
                data[at] = value
            elif kind == "dword":
                data[at:at + 4] = value.to_bytes(4, "little")
            elif kind in ("zero", "ff"):
                data[at:at + value] = (b"\0" if kind == "zero" else b"\xff") * len(data[at:at + value])
            elif kind == "splice":
                data[at:at] = value
            else:  # "truncate"
                del data[at:]
        return self.after(bytes(data)) if self.after else bytes(data)

    def __repr__(self) -> str:
        return f"Mutation(<{len(self.seed)}-byte seed>, {self.edits!r})"


@st.composite
def mutated(draw, seed: bytes, max_edits: int = 8, region: tuple[int, int] | None = None) -> Mutation:
    start, end = region or (0, len(seed))
    edits: list[tuple] = []
    for _ in range(draw(st.integers(0, max_edits))):
        kind = draw(st.sampled_from(["flip", "byte", "dword", "zero", "ff", "splice"]))
        at = draw(st.integers(start, max(start, end - 1)))
        if kind == "flip":
            value = draw(st.integers(0, 7))
        elif kind == "byte":
            value = draw(st.integers(0, 255))
        elif kind == "dword":
            value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0, 0x10000]))
        elif kind in ("zero", "ff"):
            value = draw(st.integers(1, 4096))
        else:
            value = draw(st.binary(min_size=1, max_size=64))
        edits.append((kind, at, value))
    if draw(st.booleans()) and draw(st.integers(0, 4)) == 0:
        edits.append(("truncate", draw(st.integers(start, len(seed))), None))
    return Mutation(seed, edits)
