"""The committed foundation image says what test_images/expected.json says.

Every check reads the E01 with a reader the build does not use (libewf,
libfsntfs, The Sleuth Kit), so a wrong ground truth and a wrong image cannot
agree by accident. Needs no root and never rebuilds the image.
"""

import datetime
import hashlib
import json
import os
import struct

import pytest

pyewf = pytest.importorskip("pyewf")
pyfsntfs = pytest.importorskip("pyfsntfs")
pytsk3 = pytest.importorskip("pytsk3")

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "test_images")
with open(os.path.join(IMAGES, "foundation.expected.json")) as _handle:
    TRUTH = json.load(_handle)

FILES = TRUTH["files"]
NTFS = next(p for p in TRUTH["partition_table"]["partitions"] if p["filesystem"] == "NTFS")
ESP = next(p for p in TRUTH["partition_table"]["partitions"] if p["filesystem"].startswith("FAT"))
KINDS = ("creation", "modification", "access", "entry_modification")
PLAIN = [f for f in FILES if f["is_allocated"] and not f["is_corrupt"]]
DELETED = [f for f in FILES if not f["is_allocated"]]
CORRUPT = [f for f in FILES if f["is_corrupt"]]
FILETIME_EPOCH_DELTA = 116444736000000000


def by_path(files):
    return pytest.mark.parametrize("planted", files, ids=[f["path"] for f in files])


def wanted(planted, attribute):
    return [planted[attribute][kind]["filetime"] for kind in KINDS]


class MediaSlice:
    """A file-like window on the EWF media, as libfsntfs wants it."""

    def __init__(self, handle, offset, size):
        self._handle, self._offset, self._size, self._position = handle, offset, size, 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = self._size - self._position
        size = max(0, min(size, self._size - self._position))
        data = self._handle.read_buffer_at_offset(size, self._offset + self._position)
        self._position += len(data)
        return data

    def seek(self, offset, whence=os.SEEK_SET):
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}
        self._position = base[whence] + offset

    def tell(self):
        return self._position

    get_offset = tell

    def get_size(self):
        return self._size


class EwfTskImage(pytsk3.Img_Info):
    def __init__(self, handle):
        self._handle = handle
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset, size):
        return self._handle.read_buffer_at_offset(size, offset)

    def get_size(self):
        return self._handle.get_media_size()


@pytest.fixture(scope="module")
def ewf():
    segments = pyewf.glob(os.path.join(IMAGES, TRUTH["image"]["segments"][0]))
    handle = pyewf.handle()
    handle.open(segments)
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def ntfs(ewf):
    volume = pyfsntfs.volume()
    volume.open_file_object(MediaSlice(ewf, NTFS["offset"], NTFS["size"]))
    yield volume
    volume.close()


@pytest.fixture(scope="module")
def tsk_image(ewf):
    return EwfTskImage(ewf)


@pytest.fixture(scope="module")
def tsk_ntfs(tsk_image):
    return pytsk3.FS_Info(tsk_image, offset=NTFS["offset"])


def attribute_of(file_entry, attribute_type):
    for index in range(file_entry.number_of_attributes):
        attribute = file_entry.get_attribute(index)
        if attribute.attribute_type == attribute_type:
            return attribute
    raise AssertionError("no attribute 0x%x" % attribute_type)


def fsntfs_times(obj):
    return [obj.get_creation_time_as_integer(), obj.get_modification_time_as_integer(),
            obj.get_access_time_as_integer(), obj.get_entry_modification_time_as_integer()]


def tsk_file_name_times(tsk_file):
    """$FILE_NAME times as TSK reads the attribute (layout: parent ref, C, M, E, A)."""
    for attribute in tsk_file:
        if int(attribute.info.type) == pytsk3.TSK_FS_ATTR_TYPE_NTFS_FNAME:
            value = tsk_file.read_random(0, attribute.info.size, attribute.info.type,
                                         attribute.info.id)
            creation, modification, change, access = struct.unpack_from("<4Q", value, 8)
            return [creation, modification, access, change]
    raise AssertionError("no $FILE_NAME")


def tsk_filetime(seconds, nanoseconds):
    return seconds * 10_000_000 + FILETIME_EPOCH_DELTA + nanoseconds // 100


# --- the evidence container --------------------------------------------------------

def test_the_image_is_two_small_segments():
    names = TRUTH["image"]["segments"]
    assert names == ["foundation.E01", "foundation.E02"]
    sizes = [os.path.getsize(os.path.join(IMAGES, name)) for name in names]
    assert sum(sizes) < 3 * 1024 * 1024
    assert sorted(os.path.basename(p) for p in pyewf.glob(os.path.join(IMAGES, names[0]))) == names


def test_ewf_media_size_and_stored_hashes(ewf):
    assert ewf.get_media_size() == TRUTH["image"]["media_size"]
    assert ewf.get_bytes_per_sector() == TRUTH["image"]["bytes_per_sector"]
    assert ewf.get_hash_value("MD5") == TRUTH["image"]["md5"]
    assert ewf.get_hash_value("SHA1") == TRUTH["image"]["sha1"]


def test_the_media_hashes_to_the_recorded_md5_and_sha1(ewf):
    md5, sha1 = hashlib.md5(), hashlib.sha1()
    offset = 0
    while offset < ewf.get_media_size():
        block = ewf.read_buffer_at_offset(1 << 20, offset)
        md5.update(block)
        sha1.update(block)
        offset += len(block)
    assert (md5.hexdigest(), sha1.hexdigest()) == (TRUTH["image"]["md5"], TRUTH["image"]["sha1"])


def test_the_examiner_metadata_is_in_the_header(ewf):
    for key, value in TRUTH["image"]["ewf_metadata"].items():
        assert ewf.get_header_value(key) == value
    acquired = datetime.datetime.fromisoformat(TRUTH["image"]["acquisition_date"])
    assert ewf.get_header_value("acquiry_date") == acquired.strftime("%a %b %d %H:%M:%S %Y")


# --- the disk --------------------------------------------------------------------------

def test_the_gpt_lists_the_esp_and_the_windows_partition(tsk_image):
    volume = pytsk3.Volume_Info(tsk_image)
    assert volume.info.vstype == pytsk3.TSK_VS_TYPE_GPT
    allocated = [(p.start, p.len, p.desc.decode()) for p in volume
                 if p.flags == pytsk3.TSK_VS_PART_FLAG_ALLOC]
    assert allocated == [(p["first_sector"], p["last_sector"] - p["first_sector"] + 1, p["name"])
                         for p in TRUTH["partition_table"]["partitions"]]


def test_the_gpt_header_carries_the_disk_guid(ewf):
    header = ewf.read_buffer_at_offset(512, 512)
    assert header[:8] == b"EFI PART"
    guid = header[56:72]
    text = "%08X-%04X-%04X-%s-%s" % (*struct.unpack("<IHH", guid[:8]), guid[8:10].hex().upper(),
                                     guid[10:].hex().upper())
    assert text == TRUTH["partition_table"]["disk_guid"]


def test_the_esp_is_fat_with_its_volume_id_and_label(ewf, tsk_image):
    boot = ewf.read_buffer_at_offset(512, ESP["offset"])
    assert boot[0x36:0x3E] == b"FAT16   "
    assert "%08X" % struct.unpack_from("<I", boot, 0x27)[0] == ESP["volume_id"]
    assert boot[0x2B:0x36].decode().rstrip() == ESP["volume_label"]
    assert pytsk3.FS_Info(tsk_image, offset=ESP["offset"]).info.ftype == pytsk3.TSK_FS_TYPE_FAT16


def test_the_ntfs_volume_has_its_label_serial_and_geometry(ntfs):
    assert ntfs.get_name() == NTFS["volume_label"]
    assert "%016X" % ntfs.get_serial_number() == NTFS["volume_serial_number"]
    assert ntfs.get_cluster_block_size() == NTFS["cluster_size"]
    assert ntfs.get_mft_entry_size() == NTFS["mft_record_size"]


# --- planted files, read with libfsntfs -----------------------------------------------------

@by_path(PLAIN)
def test_libfsntfs_finds_the_file_at_its_mft_entry_with_its_content(ntfs, planted):
    entry = ntfs.get_file_entry_by_path(planted["path"])
    assert entry.get_file_reference() == planted["file_reference"]
    assert entry.get_file_reference() & (2**48 - 1) == planted["mft_entry"]
    assert entry.get_file_reference() >> 48 == planted["mft_sequence"]
    assert entry.get_parent_file_reference() & (2**48 - 1) == planted["parent_mft_entry"]
    assert entry.is_allocated()
    assert entry.get_size() == planted["size"]
    assert hashlib.md5(entry.read()).hexdigest() == planted["md5"]


@by_path(PLAIN)
def test_libfsntfs_reads_the_standard_information_times(ntfs, planted):
    entry = ntfs.get_file_entry_by_path(planted["path"])
    assert fsntfs_times(entry) == wanted(planted, "standard_information")
    assert fsntfs_times(attribute_of(entry, 0x10)) == wanted(planted, "standard_information")


@by_path(PLAIN)
def test_libfsntfs_reads_the_file_name_times(ntfs, planted):
    entry = ntfs.get_file_entry_by_path(planted["path"])
    assert fsntfs_times(attribute_of(entry, 0x30)) == wanted(planted, "file_name")


@by_path(PLAIN)
def test_the_i30_index_entry_carries_the_standard_information_times(ntfs, planted):
    entry = ntfs.get_file_entry_by_path(planted["path"])
    assert planted["i30_entry_times"] == "standard_information"
    assert entry.has_i30_entry()
    assert [entry.get_i30_creation_time_as_integer(), entry.get_i30_modification_time_as_integer(),
            entry.get_i30_access_time_as_integer(),
            entry.get_i30_entry_modification_time_as_integer()] == wanted(planted, "standard_information")


def test_the_timestomped_wsb_has_standard_information_older_than_its_file_name(ntfs):
    planted = next(f for f in FILES if f["path"].endswith("\\update.wsb"))
    entry = ntfs.get_file_entry_by_path(planted["path"])
    assert entry.get_creation_time_as_integer() < attribute_of(entry, 0x30).get_creation_time_as_integer()


# --- planted files, read with The Sleuth Kit -------------------------------------------------------

@by_path(PLAIN)
def test_tsk_reads_the_same_entry_times_and_content(tsk_ntfs, planted):
    tsk_file = tsk_ntfs.open(planted["path"].replace("\\", "/"))
    meta = tsk_file.info.meta
    assert (meta.addr, meta.seq, meta.size) == (planted["mft_entry"], planted["mft_sequence"],
                                                 planted["size"])
    si = [tsk_filetime(meta.crtime, meta.crtime_nano), tsk_filetime(meta.mtime, meta.mtime_nano),
          tsk_filetime(meta.atime, meta.atime_nano), tsk_filetime(meta.ctime, meta.ctime_nano)]
    assert si == wanted(planted, "standard_information")
    assert tsk_file_name_times(tsk_file) == wanted(planted, "file_name")
    assert hashlib.md5(tsk_file.read_random(0, meta.size)).hexdigest() == planted["md5"]


# --- the deleted file ------------------------------------------------------------------

@by_path(DELETED)
def test_the_deleted_file_is_gone_from_its_directory(ntfs, planted):
    assert ntfs.get_file_entry_by_path(planted["path"]) is None
    parent = ntfs.get_file_entry(planted["parent_mft_entry"])
    names = [parent.get_sub_file_entry(i).get_name() for i in range(parent.number_of_sub_file_entries)]
    assert planted["name"] not in names


@by_path(DELETED)
def test_the_deleted_file_keeps_its_name_times_and_data_in_its_mft_record(ntfs, planted):
    entry = ntfs.get_file_entry(planted["mft_entry"])
    assert not entry.is_allocated()
    assert entry.get_file_reference() >> 48 == planted["mft_sequence"]
    file_name = attribute_of(entry, 0x30)
    assert file_name.get_name() == planted["name"]
    assert file_name.get_parent_file_reference() & (2**48 - 1) == planted["parent_mft_entry"]
    assert fsntfs_times(entry) == wanted(planted, "standard_information")
    assert fsntfs_times(file_name) == wanted(planted, "file_name")
    assert entry.get_size() == planted["size"]
    assert hashlib.md5(entry.read()).hexdigest() == planted["md5"]


@by_path(DELETED)
def test_tsk_reads_the_deleted_record_as_unallocated(tsk_ntfs, planted):
    tsk_file = tsk_ntfs.open_meta(inode=planted["mft_entry"])
    meta = tsk_file.info.meta
    assert meta.flags & pytsk3.TSK_FS_META_FLAG_UNALLOC
    assert meta.seq == planted["mft_sequence"]
    assert tsk_file_name_times(tsk_file) == wanted(planted, "file_name")
    assert hashlib.md5(tsk_file.read_random(0, meta.size)).hexdigest() == planted["md5"]


# --- the corrupt record ---------------------------------------------------------------

@by_path(CORRUPT)
def test_libfsntfs_rejects_the_corrupt_record(ntfs, planted):
    with pytest.raises(OSError):
        ntfs.get_file_entry(planted["mft_entry"])
    with pytest.raises(OSError):
        ntfs.get_file_entry_by_path(planted["path"])


@by_path(CORRUPT)
def test_tsk_rejects_the_corrupt_record_but_its_directory_still_names_it(tsk_ntfs, planted):
    with pytest.raises(OSError, match="update sequence"):
        tsk_ntfs.open_meta(inode=planted["mft_entry"])
    parent = "/".join(planted["path"].replace("\\", "/").split("/")[:-1])
    listing = {f.info.name.name.decode(): f.info.meta for f in tsk_ntfs.open_dir(parent)}
    assert planted["name"] in listing
    assert listing[planted["name"]] is None


@by_path(CORRUPT)
def test_the_corrupt_record_spoils_only_itself(ntfs, tsk_ntfs, planted):
    parent = ntfs.get_file_entry(planted["parent_mft_entry"])
    siblings = [f for f in PLAIN if f["parent_mft_entry"] == planted["parent_mft_entry"]]
    assert siblings
    assert parent.number_of_sub_file_entries == len(siblings) + 1
    readable = []
    for index in range(parent.number_of_sub_file_entries):
        try:
            readable.append(parent.get_sub_file_entry(index).get_name())
        except OSError:
            pass
    assert sorted(readable) == sorted(f["name"] for f in siblings)
    for sibling in siblings:
        assert tsk_ntfs.open(sibling["path"].replace("\\", "/")).info.meta.addr == sibling["mft_entry"]


# --- the expected events ------------------------------------------------------------------

def test_expected_events_cover_eight_times_of_every_readable_file():
    events = TRUTH["expected_events"]
    readable = [f for f in FILES if not f["is_corrupt"]]
    assert len(events) == 8 * len(readable)
    for planted in readable:
        mine = [e for e in events if e["display_name"] == "NTFS:" + planted["path"]]
        assert {(e["attribute_type"], e["timestamp_desc"]) for e in mine} == {
            (t, d) for t in (0x10, 0x30) for d in ("Creation Time", "Content Modification Time",
                                                    "Last Access Time", "Metadata Modification Time")}
        assert all(e["is_allocated"] == planted["is_allocated"] for e in mine)
        assert all(e["data_type"] == "fs:stat:ntfs" for e in mine)


def test_expected_event_timestamps_round_filetimes_like_dfdatetime():
    dfdatetime_filetime = pytest.importorskip("dfdatetime.filetime")
    kind_of = {"Creation Time": "creation", "Content Modification Time": "modification",
               "Last Access Time": "access", "Metadata Modification Time": "entry_modification"}
    attribute_of_type = {0x10: "standard_information", 0x30: "file_name"}
    files = {"NTFS:" + f["path"]: f for f in FILES}
    for event in TRUTH["expected_events"]:
        planted = files[event["display_name"]]
        value = planted[attribute_of_type[event["attribute_type"]]][kind_of[event["timestamp_desc"]]]
        plaso_timestamp = dfdatetime_filetime.Filetime(timestamp=value["filetime"]).GetPlasoTimestamp()
        assert event["timestamp"] == plaso_timestamp == value["timestamp"]
        assert event["filetime"] == value["filetime"]
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        assert datetime.datetime.fromisoformat(value["iso8601"]) == epoch + datetime.timedelta(
            microseconds=plaso_timestamp)
