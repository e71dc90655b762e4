"""Just enough raw NTFS to read and patch MFT records of an unmounted volume.

The build uses it after ntfs-3g has unmounted the volume: to learn each planted
file's MFT entry and sequence number, to write the $FILE_NAME times that ntfs-3g
cannot set on its own, and to corrupt one record on purpose. It is a build
helper, not a reader the tests trust: the tests check the result with
libfsntfs and The Sleuth Kit.
"""

import struct

ATTR_STANDARD_INFORMATION = 0x10
ATTR_FILE_NAME = 0x30
ATTR_DATA = 0x80
ATTR_END = 0xFFFFFFFF


class NtfsVolume:
    """An NTFS volume inside a disk image file, at a byte offset."""

    def __init__(self, image_path, offset):
        self.image_path = image_path
        self.offset = offset
        boot = self._read(0, 512)
        if boot[3:11] != b"NTFS    ":
            raise ValueError("no NTFS boot sector at offset %d" % offset)
        self.bytes_per_sector = struct.unpack_from("<H", boot, 0x0B)[0]
        self.cluster_size = self.bytes_per_sector * boot[0x0D]
        self.total_sectors = struct.unpack_from("<Q", boot, 0x28)[0]
        mft_lcn = struct.unpack_from("<Q", boot, 0x30)[0]
        clusters_per_record = struct.unpack_from("<b", boot, 0x40)[0]
        self.record_size = (
            clusters_per_record * self.cluster_size
            if clusters_per_record > 0 else 1 << -clusters_per_record)
        self.serial_number = struct.unpack_from("<Q", boot, 0x48)[0]
        self._mft_offset = mft_lcn * self.cluster_size
        # $MFT may be fragmented: map record numbers through its own data runs.
        record0 = self.decode(self._read(self._mft_offset, self.record_size))
        data = next(a for a in attributes(record0) if a["type"] == ATTR_DATA)
        self._mft_runs = data["runs"]

    def _read(self, offset, size):
        with open(self.image_path, "rb") as image:
            image.seek(self.offset + offset)
            return image.read(size)

    def _write(self, offset, data):
        with open(self.image_path, "r+b") as image:
            image.seek(self.offset + offset)
            image.write(data)

    def record_offset(self, entry):
        """Volume-relative byte offset of MFT entry ``entry``."""
        position = entry * self.record_size
        for vcn_start, length, lcn in self._mft_runs:
            run_bytes = length * self.cluster_size
            run_start = vcn_start * self.cluster_size
            if run_start <= position < run_start + run_bytes:
                return lcn * self.cluster_size + position - run_start
        raise ValueError("MFT entry %d is beyond $MFT" % entry)

    def read_record(self, entry):
        """The record with its update-sequence fixups undone."""
        return self.decode(self._read(self.record_offset(entry),
                                       self.record_size))

    def write_record(self, entry, record):
        """Write a decoded record back, re-applying its fixups."""
        self._write(self.record_offset(entry), self.encode(record))

    def write_raw(self, entry, offset_in_record, data):
        self._write(self.record_offset(entry) + offset_in_record, data)

    def read_clusters(self, lcn, count):
        return self._read(lcn * self.cluster_size, count * self.cluster_size)

    def decode(self, raw):
        record = bytearray(raw)
        usa_offset, usa_count = struct.unpack_from("<HH", record, 4)
        usn = record[usa_offset:usa_offset + 2]
        for i in range(1, usa_count):
            end = i * self.bytes_per_sector
            if record[end - 2:end] != usn:
                raise ValueError("update sequence mismatch in sector %d" % i)
            record[end - 2:end] = record[usa_offset + 2 * i:usa_offset + 2 * i + 2]
        return record

    def encode(self, record):
        record = bytearray(record)
        usa_offset, usa_count = struct.unpack_from("<HH", record, 4)
        usn = record[usa_offset:usa_offset + 2]
        for i in range(1, usa_count):
            end = i * self.bytes_per_sector
            record[usa_offset + 2 * i:usa_offset + 2 * i + 2] = record[end - 2:end]
            record[end - 2:end] = usn
        return bytes(record)


def record_header(record):
    """Signature, sequence number, flags and base reference of a record."""
    sequence, _, attrs_offset, flags = struct.unpack_from("<HHHH", record, 0x10)
    return {
        "signature": bytes(record[0:4]),
        "sequence": sequence,
        "in_use": bool(flags & 0x1),
        "is_directory": bool(flags & 0x2),
        "attrs_offset": attrs_offset,
        "base_reference": struct.unpack_from("<Q", record, 0x20)[0],
    }


def attributes(record):
    """Yield each attribute header of a decoded record as a dict."""
    offset = struct.unpack_from("<H", record, 0x14)[0]
    while offset + 8 <= len(record):
        attr_type, length = struct.unpack_from("<II", record, offset)
        if attr_type == ATTR_END or length == 0:
            return
        non_resident = record[offset + 8]
        name_length, name_offset = record[offset + 9], struct.unpack_from(
            "<H", record, offset + 10)[0]
        attr = {"type": attr_type, "offset": offset, "length": length,
                "non_resident": bool(non_resident),
                "name": bytes(record[offset + name_offset:offset + name_offset
                                     + 2 * name_length]).decode("utf-16-le")}
        if non_resident:
            runs_offset = struct.unpack_from("<H", record, offset + 0x20)[0]
            attr["data_size"] = struct.unpack_from("<Q", record, offset + 0x30)[0]
            attr["runs"] = _data_runs(record, offset + runs_offset, offset + length)
        else:
            value_length, value_offset = struct.unpack_from("<IH", record, offset + 0x10)
            attr["value_offset"] = offset + value_offset
            attr["value"] = bytes(record[offset + value_offset:
                                         offset + value_offset + value_length])
        yield attr
        offset += length


def _data_runs(record, offset, end):
    runs, vcn, lcn = [], 0, 0
    while offset < end and record[offset]:
        header = record[offset]
        length_size, offset_size = header & 0x0F, header >> 4
        offset += 1
        length = int.from_bytes(record[offset:offset + length_size], "little")
        offset += length_size
        if offset_size:
            lcn += int.from_bytes(record[offset:offset + offset_size], "little",
                                  signed=True)
            runs.append((vcn, length, lcn))
        offset += offset_size
        vcn += length
    return runs


def filetimes(value, offset=0):
    """The four FILETIMEs (creation, modification, MFT change, access) as stored."""
    return struct.unpack_from("<4Q", value, offset)


# On disk both $STANDARD_INFORMATION and $FILE_NAME store the times in the
# order creation, last data change, last MFT change, last access.
def pack_times(creation, modification, entry_modification, access):
    return struct.pack("<4Q", creation, modification, entry_modification, access)
