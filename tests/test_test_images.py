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


# =====================================================================================
# The host image (WIN11-HOST, test_images/SCENARIO.md) against test_images/expected.json.
# Same rule: independent readers only (libewf, libfsntfs, TSK, libregf, regipy, libevtx,
# python-evtx, pyevtx-rs, libvhdi, dfVFS); nothing here rebuilds anything.
# =====================================================================================

import codecs  # noqa: E402
import gzip  # noqa: E402
import sys  # noqa: E402

with open(os.path.join(IMAGES, "expected.json")) as _handle:
    HOST = json.load(_handle)

HOST_NTFS = next(p for p in HOST["partition_table"]["partitions"] if p["filesystem"] == "NTFS")
HOST_FILES = HOST["files"]
HOST_LIVE = [f for f in HOST_FILES if f["is_allocated"]]
HOST_DELETED = [f for f in HOST_FILES if f["state"] == "deleted"]
HOST_CARVABLE = [f for f in HOST_FILES if f["state"] == "carvable"]
ARTIFACTS = HOST["artifacts"]
EVTX_FILES = sorted({a["path"] for a in ARTIFACTS if a["kind"] == "evtx"})
MACHINE_SID = HOST["identifiers"]["MACHINE_SID"]


def host_file(path):
    return next(f for f in HOST_FILES if f["path"] == path)


def host_artifact(artifact_id):
    return next(a for a in ARTIFACTS if a["id"] == artifact_id)


def filetime_of(event):
    """Inverse of the plaso rounding, good enough to compare at microsecond precision."""
    return event["timestamp"] * 10 + FILETIME_EPOCH_DELTA


@pytest.fixture(scope="module")
def host_ewf():
    handle = pyewf.handle()
    handle.open(pyewf.glob(os.path.join(IMAGES, HOST["image"]["segments"][0])))
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def host_ntfs(host_ewf):
    volume = pyfsntfs.volume()
    volume.open_file_object(MediaSlice(host_ewf, HOST_NTFS["offset"], HOST_NTFS["size"]))
    yield volume
    volume.close()


@pytest.fixture(scope="module")
def host_tsk(host_ewf):
    return pytsk3.FS_Info(EwfTskImage(host_ewf), offset=HOST_NTFS["offset"])


@pytest.fixture(scope="module")
def host_bytes(host_ntfs):
    """path -> content of every allocated planted file, read through libfsntfs."""
    return {f["path"]: host_ntfs.get_file_entry_by_path(f["path"]).read() for f in HOST_LIVE}


# --- container and file system --------------------------------------------------------

def test_host_image_is_exactly_two_segments_and_all_images_stay_small():
    assert HOST["image"]["segments"] == ["host.E01", "host.E02"]
    committed = [os.path.join(IMAGES, n) for n in os.listdir(IMAGES) if n.endswith((".E01", ".E02"))]
    committed += [os.path.join(IMAGES, "disks", n) for n in os.listdir(os.path.join(IMAGES, "disks"))]
    assert sum(os.path.getsize(p) for p in committed) < 25 * 1024 * 1024


def test_host_media_size_and_hash(host_ewf):
    assert host_ewf.get_media_size() == HOST["image"]["media_size"]
    md5 = hashlib.md5()
    for offset in range(0, HOST["image"]["media_size"], 1 << 22):
        md5.update(host_ewf.read_buffer_at_offset(1 << 22, offset))
    assert md5.hexdigest() == HOST["image"]["md5"]
    assert host_ewf.get_hash_value("MD5") == HOST["image"]["md5"]


def test_host_ntfs_volume_geometry(host_ntfs):
    assert host_ntfs.get_name() == HOST_NTFS["volume_label"]
    assert "%016X" % host_ntfs.get_serial_number() == HOST_NTFS["volume_serial_number"]
    assert host_ntfs.get_cluster_block_size() == HOST_NTFS["cluster_size"]


@pytest.mark.parametrize("planted", HOST_LIVE, ids=[f["path"] for f in HOST_LIVE])
def test_host_live_files_content_entry_and_times(host_ntfs, planted):
    entry = host_ntfs.get_file_entry_by_path(planted["path"])
    assert entry is not None and entry.is_allocated()
    assert entry.get_file_reference() & (2**48 - 1) == planted["mft_entry"]
    assert entry.get_file_reference() >> 48 == planted["mft_sequence"]
    assert entry.get_size() == planted["size"]
    assert hashlib.sha256(entry.read()).hexdigest() == planted["sha256"]
    assert fsntfs_times(entry) == wanted(planted, "standard_information")
    assert fsntfs_times(attribute_of(entry, 0x30)) == wanted(planted, "file_name")


@pytest.mark.parametrize("planted", HOST_LIVE, ids=[f["path"] for f in HOST_LIVE])
def test_host_tsk_agrees_on_live_files(host_tsk, planted):
    tsk_file = host_tsk.open(planted["path"].replace("\\", "/"))
    meta = tsk_file.info.meta
    assert meta.addr == planted["mft_entry"]
    assert tsk_file_name_times(tsk_file) == wanted(planted, "file_name")
    assert hashlib.sha256(tsk_file.read_random(0, meta.size)).hexdigest() == planted["sha256"]


@pytest.mark.parametrize("planted", HOST_DELETED, ids=[f["path"] for f in HOST_DELETED])
def test_host_deleted_files_keep_record_and_data(host_ntfs, host_tsk, planted):
    assert host_ntfs.get_file_entry_by_path(planted["path"]) is None
    entry = host_ntfs.get_file_entry(planted["mft_entry"])
    assert not entry.is_allocated()
    assert attribute_of(entry, 0x30).get_name() == planted["path"].rsplit("\\", 1)[1]
    assert fsntfs_times(entry) == wanted(planted, "standard_information")
    assert hashlib.sha256(entry.read()).hexdigest() == planted["sha256"]
    meta = host_tsk.open_meta(inode=planted["mft_entry"]).info.meta
    assert meta.flags & pytsk3.TSK_FS_META_FLAG_UNALLOC


def _cluster_allocated(host_ntfs, lcn):
    bitmap = host_ntfs.get_file_entry_by_path("\\$Bitmap")
    bitmap.seek_offset(lcn // 8, os.SEEK_SET)
    return bool(bitmap.read_buffer(1)[0] >> (lcn % 8) & 1)


@pytest.mark.parametrize("planted", HOST_CARVABLE, ids=[f["path"] for f in HOST_CARVABLE])
def test_host_carvable_disk_record_reused_clusters_free_and_signed(host_ewf, host_ntfs, planted):
    assert host_ntfs.get_file_entry_by_path(planted["path"]) is None
    reused = host_ntfs.get_file_entry(planted["mft_entry"])
    assert reused.is_allocated()
    assert attribute_of(reused, 0x30).get_name() == planted["reused_by"]["path"].rsplit("\\", 1)[1]
    cluster = HOST_NTFS["cluster_size"]
    offset = HOST_NTFS["offset"] + planted["carving"]["volume_offset"]
    assert host_ewf.read_buffer_at_offset(8, offset) == b"vhdxfile"
    data = b"".join(host_ewf.read_buffer_at_offset(r["clusters"] * cluster,
                                                   HOST_NTFS["offset"] + r["lcn"] * cluster)
                    for r in planted["data_runs"])
    assert hashlib.sha256(data[:planted["size"]]).hexdigest() == planted["sha256"]
    for run in planted["data_runs"]:
        assert not _cluster_allocated(host_ntfs, run["lcn"])
        assert not _cluster_allocated(host_ntfs, run["lcn"] + run["clusters"] - 1)


def test_host_committed_disk_copies_are_the_planted_disks():
    for planted in HOST_FILES:
        if "committed_copy" in planted:
            with gzip.open(os.path.join(IMAGES, os.pardir, planted["committed_copy"])) as handle:
                assert hashlib.sha256(handle.read()).hexdigest() == planted["sha256"]


def test_host_timestomped_wsb(host_ntfs):
    entry = host_ntfs.get_file_entry_by_path("\\ProgramData\\SysCache\\update.wsb")
    assert entry.get_creation_time_as_integer() < attribute_of(entry, 0x30).get_creation_time_as_integer()


def test_host_fs_stat_events_match_the_file_times():
    for planted in HOST_FILES:
        if planted["state"] == "carvable":
            continue
        events = [e for a in ARTIFACTS if a["kind"] == "ntfs_record" and a["path"] == planted["path"]
                  for e in a["events"]]
        assert len(events) == 8
        for e in events:
            kind = next(k for k in KINDS if TIME_DESCS[k] == e["timestamp_desc"])
            key = "standard_information" if e["attribute_type"] == 0x10 else "file_name"
            assert e["timestamp"] == planted[key][kind]["timestamp"]


TIME_DESCS = {"creation": "Creation Time", "modification": "Content Modification Time",
              "access": "Last Access Time", "entry_modification": "Metadata Modification Time"}


# --- registry hives: libregf and regipy -------------------------------------------------

import pyregf  # noqa: E402
from regipy.registry import RegistryHive  # noqa: E402

HIVES = {"SAM": "\\Windows\\System32\\config\\SAM", "SYSTEM": "\\Windows\\System32\\config\\SYSTEM",
         "SOFTWARE": "\\Windows\\System32\\config\\SOFTWARE", "NTUSER": "\\Users\\alice\\NTUSER.DAT"}


@pytest.fixture(scope="module")
def hives(host_bytes, tmp_path_factory):
    """name -> (pyregf.file, regipy RegistryHive) over the hive bytes read from the image."""
    out = {}
    folder = tmp_path_factory.mktemp("hives")
    for name, path in HIVES.items():
        target = folder / name
        target.write_bytes(host_bytes[path])
        regf = pyregf.file()
        regf.open(str(target))
        out[name] = (regf, RegistryHive(str(target)))
    return out


def regf_value(regf, key_path, value_name):
    key = regf.get_key_by_path(key_path)
    assert key is not None, key_path
    value = key.get_value_by_name(value_name)
    assert value is not None, (key_path, value_name)
    return key, value


def regipy_value(hive, key_path, value_name):
    """(key, value data as bytes) through regipy; binary data comes back as hex text there."""
    key = hive.get_key(key_path)
    value = next(v.value for v in key.iter_values(as_json=False) if v.name == value_name)
    return key, bytes.fromhex(value) if isinstance(value, str) else value


def test_host_every_hive_has_the_same_keys_and_values_in_both_readers(hives):
    def walk_regf(key, path):
        yield path, key.get_last_written_time_as_integer(), sorted(
            ((v.name or ""), v.type, v.data or b"") for v in key.values)
        for sub in key.sub_keys:
            yield from walk_regf(sub, path + "\\" + sub.name)

    def walk_regipy(key, path):
        yield path, key.header.last_modified, key.values_count
        for sub in key.iter_subkeys():
            yield from walk_regipy(sub, path + "\\" + sub.name)

    for name, (regf, hive) in hives.items():
        a = [(p, t, len(v)) for p, t, v in walk_regf(regf.root_key, "")]
        b = list(walk_regipy(hive.root, ""))
        assert a == b, name


def test_host_sam_accounts(hives):
    sys.path.insert(0, os.path.join(IMAGES, os.pardir))
    from test_images.sam import decode_user_f, decode_user_v_strings
    regf, hive = hives["SAM"]
    events = host_artifact("host-sam-accounts")["events"]
    for event in events:
        key_path = "\\SAM\\Domains\\Account\\Users\\%08X" % event["account_rid"]
        _, f_value = regf_value(regf, key_path, "F")
        f = decode_user_f(f_value.data)
        assert f["rid"] == event["account_rid"]
        assert f["flags"] == event["account_flags"]
        assert f["login_count"] == event["login_count"]
        name, full, comment = decode_user_v_strings(regf_value(regf, key_path, "V")[1].data)
        assert (name, full, comment) == (event["username"], event["fullname"], event["comments"])
        if event["timestamp_desc"] == "Last Login Time":
            assert abs(f["last_login"] - filetime_of(event)) < 10
        if event["timestamp_desc"] == "Last Password Set Time":
            assert abs(f["password_last_set"] - filetime_of(event)) < 10
        names = regf.get_key_by_path("\\SAM\\Domains\\Account\\Users\\Names\\" + event["username"])
        assert names.get_value(0).type == event["account_rid"]
        assert regipy_value(hive, key_path, "F")[1] == f_value.data
    wdag = next(e for e in events if e["account_rid"] == 504)
    assert wdag["account_disabled"] and wdag["login_count"] == 0
    from regipy.plugins.sam.samparse import SAMParsePlugin
    parsed = SAMParsePlugin(hive, as_json=True)
    parsed.run()
    by_rid = {entry["rid"]: entry for entry in parsed.entries}    # (regipy 6.5 decodes F, not V, even on real SAMs)
    for event in events:
        entry = by_rid[event["account_rid"]]
        assert (entry["account_flags"], entry["login_count"]) == (event["account_flags"], event["login_count"])
    assert "Account Disabled" in by_rid[504]["account_flags_parsed"]
    assert "Account Disabled" not in by_rid[1001]["account_flags_parsed"]
    from regipy.plugins.sam.local_sid import LocalSidPlugin
    plugin = LocalSidPlugin(hive, as_json=True)
    plugin.run()
    assert plugin.entries[0]["machine_sid"] == MACHINE_SID


def test_host_system_hive(hives):
    regf, hive = hives["SYSTEM"]
    assert regf_value(regf, "\\Select", "Current")[1].get_data_as_integer() == 1
    assert regf_value(regf, "\\ControlSet001\\Control\\ComputerName\\ComputerName",
                      "ComputerName")[1].get_data_as_string() == "WIN11-HOST"
    for artifact in ARTIFACTS:
        if artifact["id"].startswith("host-service-") and "not_a_sandbox_trace" not in artifact:
            (event,) = artifact["events"]
            path = "\\ControlSet001\\Services\\" + event["name"]
            key, value = regf_value(regf, path, "ImagePath")
            assert value.get_data_as_string() == event["image_path"]
            assert regf_value(regf, path, "Start")[1].get_data_as_integer() == event["start_type"]
            assert regf_value(regf, path, "Type")[1].get_data_as_integer() == event["service_type"]
            assert abs(key.get_last_written_time_as_integer() - filetime_of(event)) < 10
            assert hive.get_key(path).get_value("ImagePath") == event["image_path"]
    (event,) = host_artifact("host-bam-windowssandbox")["events"]
    bam = "\\ControlSet001\\Services\\bam\\State\\UserSettings\\" + event["user_identifier"]
    _, value = regf_value(regf, bam, event["path"])
    assert len(value.data) == 24
    assert abs(struct.unpack_from("<Q", value.data)[0] - filetime_of(event)) < 10


def test_host_software_hive(hives):
    regf, hive = hives["SOFTWARE"]
    cbs = "\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing"
    feature = host_artifact("host-cbs-package")["events"][0]
    key, value = regf_value(regf, cbs + "\\Packages\\" + feature["package"], "CurrentState")
    assert value.get_data_as_integer() == 0x70
    assert abs(key.get_last_written_time_as_integer() - filetime_of(feature)) < 10
    sel = cbs + "\\Notifications\\OptionalFeatures\\Containers-DisposableClientVM"
    assert regf_value(regf, sel, "Selection")[1].get_data_as_integer() == 1
    (policy,) = host_artifact("host-sandbox-policy")["events"]
    for name, number in policy["values"].items():
        assert regf_value(regf, "\\Policies\\Microsoft\\Windows\\Sandbox", name)[1].get_data_as_integer() == number
        assert hive.get_key("\\Policies\\Microsoft\\Windows\\Sandbox").get_value(name) == number
    (assoc,) = host_artifact("host-wsb-association")["events"]
    _, command = regf_value(regf, "\\Classes\\Windows.Sandbox\\shell\\open\\command", "")
    assert command.get_data_as_string() == assoc["command"]
    for path in host_artifact("host-wsb-association")["keys"]:
        assert regf.get_key_by_path("\\" + path) is not None
    appx, registration = host_artifact("host-appx-registration")["events"]
    assert regf.get_key_by_path("\\Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore\\Applications\\"
                                + appx["package_full_name"]) is not None
    assert regf.get_key_by_path("\\Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore\\"
                                + registration["user_sid"] + "\\" + appx["package_full_name"]) is not None
    task = host_artifact("host-taskcache")
    registered = next(e for e in task["events"] if e["timestamp_desc"] == "Last registered Time")
    root = "\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache"
    _, ident = regf_value(regf, root + "\\Tree" + task["task_path"], "Id")
    assert ident.get_data_as_string() == registered["task_identifier"] and len(ident.data) == 78
    _, info = regf_value(regf, root + "\\Tasks\\" + registered["task_identifier"], "DynamicInfo")
    assert len(info.data) == 36
    assert abs(struct.unpack_from("<Q", info.data, 4)[0] - filetime_of(registered)) < 10


def test_host_ntuser_hive(hives):
    regf, hive = hives["NTUSER"]
    (ua,) = host_artifact("host-userassist-windowssandbox")["events"]
    count = ("\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\"
             "{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}\\Count")
    _, value = regf_value(regf, count, codecs.encode(ua["raw_value_name"], "rot13"))
    assert len(value.data) == 72
    runs, focus, focus_ms = struct.unpack_from("<III", value.data, 4)
    assert (runs, focus, focus_ms) == (ua["number_of_executions"], ua["application_focus_count"],
                                       ua["application_focus_duration"])
    assert abs(struct.unpack_from("<Q", value.data, 60)[0] - filetime_of(ua)) < 10
    recent = "\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs\\.wsb"
    _, mru = regf_value(regf, recent, "MRUListEx")
    assert struct.unpack("<ii", mru.data) == (0, -1)
    assert regf_value(regf, recent, "0")[1].data.startswith("update.wsb\0".encode("utf-16-le"))
    assert regipy_value(hive, recent, "MRUListEx")[1] == mru.data


def test_host_task_xml(host_bytes):
    (event,) = host_artifact("host-task-xml")["events"]
    raw = host_bytes["\\Windows\\System32\\Tasks" + event["task_path"]]
    assert raw.startswith(codecs.BOM_UTF16_LE)
    import xml.etree.ElementTree as ET
    root = ET.fromstring(raw.decode("utf-16"))
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert root.find("t:Actions/t:Exec/t:Command", ns).text == event["command"]
    assert root.find("t:Actions/t:Exec/t:Arguments", ns).text == event["arguments"]
    assert root.find("t:Principals/t:Principal/t:UserId", ns).text == event["user_id"]
    assert root.find("t:Triggers/t:BootTrigger", ns) is not None


# --- event logs: libevtx, python-evtx, pyevtx-rs ------------------------------------------

import pyevtx  # noqa: E402


def expected_records(path):
    """record number -> the 'Creation Time' event of each record of one log."""
    return {e["record_number"]: e for a in ARTIFACTS if a["kind"] == "evtx" and a["path"] == path
            for e in a["events"] if e["timestamp_desc"] == "Creation Time"}


@pytest.fixture(scope="module")
def evtx_paths(host_bytes, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evtx")
    out = {}
    for path in EVTX_FILES:
        target = folder / path.rsplit("\\", 1)[1]
        target.write_bytes(host_bytes[path])
        out[path] = str(target)
    return out


@pytest.mark.parametrize("path", EVTX_FILES)
def test_host_evtx_libevtx(evtx_paths, path):
    want = expected_records(path)
    log = pyevtx.file()
    log.open(evtx_paths[path])
    got = {r.identifier: r for r in log.records}
    assert sorted(got) == sorted(want)
    for number, e in want.items():
        r = got[number]
        assert r.event_identifier == e["event_identifier"]
        assert r.source_name == e["source_name"]
        assert r.computer_name == e["computer_name"]
        assert (r.user_security_identifier or None) == e["user_sid"]
        assert abs(r.get_creation_time_as_integer() - filetime_of(e)) < 10
        assert [r.get_string(i) for i in range(r.number_of_strings)] == e["strings"]


@pytest.mark.parametrize("path", EVTX_FILES)
def test_host_evtx_python_evtx(evtx_paths, path):
    from Evtx.Evtx import Evtx
    import xml.etree.ElementTree as ET
    want = expected_records(path)
    ns = "{http://schemas.microsoft.com/win/2004/08/events/event}"
    seen = {}
    with Evtx(evtx_paths[path]) as log:
        for record in log.records():
            root = ET.fromstring(record.xml())
            system = root.find(ns + "System")
            seen[record.record_num()] = (int(system.find(ns + "EventID").text),
                                         system.find(ns + "Provider").get("Name"),
                                         system.find(ns + "Computer").text)
    assert seen == {n: (e["event_identifier"], e["source_name"], e["computer_name"]) for n, e in want.items()}


@pytest.mark.parametrize("path", EVTX_FILES)
def test_host_evtx_pyevtx_rs(evtx_paths, path):
    from evtx import PyEvtxParser
    want = expected_records(path)
    seen = {}
    for record in PyEvtxParser(evtx_paths[path]).records_json():
        system = json.loads(record["data"])["Event"]["System"]
        event_id = system["EventID"]
        event_id = event_id["#text"] if isinstance(event_id, dict) else event_id
        when = system["TimeCreated"]["#attributes"]["SystemTime"]
        seconds, _, fraction = when.rstrip("Z").replace(" UTC", "").partition(".")
        moment = datetime.datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc)
        micros = int(moment.timestamp()) * 1_000_000 + int((fraction + "000000")[:6])
        seen[record["event_record_id"]] = (int(event_id), system["Provider"]["#attributes"]["Name"], micros)
    assert seen == {n: (e["event_identifier"], e["source_name"], e["timestamp"]) for n, e in want.items()}


def test_host_4688_command_lines_cover_the_sigma_cases():
    lines = [a["command_line"] for a in ARTIFACTS if a.get("event_identifier") == 4688]
    assert any("--config" in c and "<LogonCommand>" in c for c in lines)
    assert any(" share " in c and "--allow-write" in c for c in lines)
    assert any(" exec " in c and " -r System" in c for c in lines)


# --- the nested chain through dfVFS ------------------------------------------------------------

def _dfvfs_host_file(location):
    from dfvfs.lib import definitions
    from dfvfs.path import factory
    from dfvfs.resolver import resolver
    spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_OS,
                                       location=os.path.abspath(os.path.join(IMAGES, "host.E01")))
    spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_EWF, parent=spec)
    spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_GPT, location="/p2", parent=spec)
    spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_NTFS, location=location, parent=spec)
    return spec, resolver.Resolver.OpenFileObject(spec)


class _FileObjectSlice(MediaSlice):
    """MediaSlice over anything with read_buffer_at_offset (pyvhdi.file)."""


def test_host_dfvfs_opens_the_differencing_sandbox_disk_with_its_mapped_parent():
    pyvhdi = pytest.importorskip("pyvhdi")
    disk = next(d for d in HOST["sandbox_storage"] if d.get("role") == "sandbox_disk" and d["session"] == 1)
    (parent_link,) = disk["parent_chain"]
    assert parent_link["absolute_path"].startswith("C:\\")
    # dfVFS would look for the parent beside the child; map C:\ onto the image's NTFS instead.
    _, child_object = _dfvfs_host_file(disk["host_path"])
    _, parent_object = _dfvfs_host_file(parent_link["absolute_path"][2:])
    parent = pyvhdi.file()
    parent.open_file_object(parent_object)
    child = pyvhdi.file()
    child.open_file_object(child_object)
    assert child.disk_type == 4                                 # differencing
    child.set_parent(parent)
    volume_info = disk["volume"]["partition"]
    inner = pyfsntfs.volume()
    inner.open_file_object(_FileObjectSlice(child, volume_info["offset"], volume_info["size"]))
    assert inner.get_name() == disk["volume"]["label"]
    checked = 0
    for inner_file in disk["inner_files"]:
        if inner_file.get("reparse") or inner_file.get("kind") == "wci_placeholder":
            continue
        entry = inner.get_file_entry_by_path(inner_file["path"])
        assert entry is not None, inner_file["path"]
        assert hashlib.md5(entry.read()).hexdigest() == inner_file["md5"]
        checked += 1
    assert checked >= 3


def test_host_dfvfs_reads_the_base_layer_as_a_nested_volume():
    from dfvfs.lib import definitions
    from dfvfs.path import factory
    from dfvfs.resolver import resolver
    base = next(d for d in HOST["sandbox_storage"] if d.get("role") == "base_layer")
    spec, _ = _dfvfs_host_file(base["host_path"])
    spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_VHDI, parent=spec)
    spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_TSK_PARTITION, location="/p1", parent=spec)
    spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_NTFS, location="\\", parent=spec)
    root = resolver.Resolver.OpenFileEntry(spec)
    assert {"Files", "Hives"} <= {e.name for e in root.sub_file_entries}
