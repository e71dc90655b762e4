"""Scheduled-task XML: the task that started the sandbox at boot, as SYSTEM, hidden."""

from __future__ import annotations

import datetime
import os

import pytest

from sandtrace.engine import sources
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from sandtrace.timeline.timeliner import Timeliner
from sandtrace.parsers.task_xml import TaskXmlError, command_lines, parse_task, task_path

NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"

MIRRORFACE_TASK = f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="{NS}">
  <RegistrationInfo>
    <Date>2025-01-14T06:15:00.1234567</Date>
    <Author>WIN11-HOST\\alice</Author>
    <URI>\\Microsoft\\Windows\\SysCache\\Update</URI>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger><Enabled>true</Enabled><Delay>PT1M</Delay></BootTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author"><UserId>S-1-5-18</UserId><RunLevel>HighestAvailable</RunLevel></Principal>
  </Principals>
  <Settings><Hidden>true</Hidden><Enabled>true</Enabled></Settings>
  <Actions Context="Author">
    <Exec>
      <Command>C:\\Windows\\System32\\WindowsSandbox.exe</Command>
      <Arguments>C:\\ProgramData\\SysCache\\update.wsb</Arguments>
    </Exec>
  </Actions>
</Task>
"""

DEFRAG_TASK = f"""<?xml version="1.0" encoding="UTF-16"?>
<Task xmlns="{NS}">
  <RegistrationInfo><Date>2024-03-04T08:20:00+09:00</Date><Author>Microsoft Corporation</Author></RegistrationInfo>
  <Triggers><TimeTrigger><StartBoundary>2024-03-05T01:00:00</StartBoundary><Repetition><Interval>P7D</Interval></Repetition></TimeTrigger></Triggers>
  <Principals><Principal><GroupId>S-1-5-32-544</GroupId></Principal></Principals>
  <Actions><ComHandler><ClassId>{{7D1A3DE5-4F38-4C3C-8E5B-9E7C4A3F1B2D}}</ClassId></ComHandler>
    <Exec><Command>%windir%\\system32\\defrag.exe</Command><Arguments>-c -h -o</Arguments></Exec></Actions>
</Task>
"""

WSB_CLI_TASK = f"""<Task xmlns="{NS}">
  <Triggers><LogonTrigger><UserId>WIN11-HOST\\alice</UserId></LogonTrigger></Triggers>
  <Actions><Exec><Command>wsb</Command><Arguments>start --config "&lt;Configuration/&gt;"</Arguments></Exec></Actions>
</Task>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Task><RegistrationInfo><Author>&lol3;</Author></RegistrationInfo></Task>"""

XXE = """<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><Task><RegistrationInfo><Author>&x;</Author></RegistrationInfo></Task>"""

MODIFIED = datetime.datetime(2025, 1, 14, 6, 15, 0, tzinfo=datetime.timezone.utc).timestamp()


def micros(*args: int) -> int:
    return (datetime.datetime(*args) - datetime.datetime(1970, 1, 1)) // datetime.timedelta(microseconds=1)


@pytest.fixture
def tasks(tmp_path):
    root = tmp_path / "Windows" / "System32" / "Tasks"
    (root / "Microsoft" / "Windows" / "SysCache").mkdir(parents=True)
    (root / "Microsoft" / "Windows" / "Defrag").mkdir(parents=True)
    update = root / "Microsoft" / "Windows" / "SysCache" / "Update"
    update.write_bytes(MIRRORFACE_TASK.encode("utf-16"))
    os.utime(update, (MODIFIED, MODIFIED))
    (root / "Microsoft" / "Windows" / "Defrag" / "ScheduledDefrag").write_bytes(DEFRAG_TASK.encode("utf-16-le"))
    (root / "SandboxAtLogon").write_text(WSB_CLI_TASK, encoding="utf-8")
    (root / "Laughs").write_text(BILLION_LAUGHS, encoding="utf-8")
    (root / "Xxe").write_text(XXE, encoding="utf-8")
    (root / "Junk").write_bytes(os.urandom(512) + b"\0")
    (root / "Huge").write_bytes(b"<Task>" + b" " * (2 * 1024 * 1024) + b"</Task>")
    (root / "NotATask").write_text("<Configuration/>", encoding="utf-8")
    return tmp_path


def _extract(root):
    extractor = Extractor(ExtractionOptions(parsers="task_xml"))
    return list(extractor.run(sources.open_source(str(root))))


def _tasks(data):
    return {d.values["task_path"]: d for d in data if d.data_type == "windows:sandbox:scheduled_task"}


def test_the_boot_task_that_runs_the_sandbox_as_system_is_tagged(tasks):
    task = _tasks(_extract(tasks))["\\Microsoft\\Windows\\SysCache\\Update"]
    values = task.values
    assert values["author"] == "WIN11-HOST\\alice"
    assert values["user_id"] == "S-1-5-18"
    assert values["run_level"] == "HighestAvailable"
    assert values["hidden"] is True
    assert task.values["task_name"] == "Update"
    assert values["trigger"] == "BootTrigger"
    assert (values["command"], values["arguments"]) == ("C:\\Windows\\System32\\WindowsSandbox.exe", "C:\\ProgramData\\SysCache\\update.wsb")
    assert values["triggers"] == [{"trigger_type": "BootTrigger", "delay": "PT1M", "enabled": True}]
    assert values["actions"] == [{
        "action_type": "Exec",
        "command": "C:\\Windows\\System32\\WindowsSandbox.exe",
        "arguments": "C:\\ProgramData\\SysCache\\update.wsb",
    }]
    assert values["registration_date"] == "2025-01-14T06:15:00.1234567"
    assert values["registration_date_is_local_time"] is True
    assert task.tags == ["sandbox_launch_task"]

    events = {e.timestamp_desc: e.timestamp for e in Timeliner().events(task)}
    assert events["Registration Time"] == micros(2025, 1, 14, 6, 15, 0) + 123456  # local time, shown as written
    assert events["Content Modification Time"] == micros(2025, 1, 14, 6, 15, 0)


def test_an_ordinary_windows_task_is_kept_untagged_and_a_zoned_date_is_converted(tasks):
    task = _tasks(_extract(tasks))["\\Microsoft\\Windows\\Defrag\\ScheduledDefrag"]
    assert task.tags == []
    assert task.values["group_id"] == "S-1-5-32-544"
    assert task.values["registration_date_is_local_time"] is False
    assert task.values["registration_time"].GetPlasoTimestamp() == micros(2024, 3, 3, 23, 20, 0)
    assert task.values["triggers"][0] == {
        "trigger_type": "TimeTrigger", "start_boundary": "2024-03-05T01:00:00", "repetition_interval": "P7D",
    }
    assert [a["action_type"] for a in task.values["actions"]] == ["ComHandler", "Exec"]
    assert command_lines(task.values) == ["%windir%\\system32\\defrag.exe -c -h -o"]
    assert task.values["trigger"] == "TimeTrigger"


def test_a_logon_task_running_the_store_cli_is_tagged(tasks):
    task = _tasks(_extract(tasks))["\\SandboxAtLogon"]
    assert command_lines(task.values) == ['wsb start --config "<Configuration/>"']
    assert task.values["triggers"] == [{"trigger_type": "LogonTrigger", "user_id": "WIN11-HOST\\alice"}]
    assert "registration_time" not in task.values
    assert task.tags == ["sandbox_launch_task"]


def test_hostile_and_broken_task_files_give_warnings(tasks):
    start = datetime.datetime.now()
    data = _extract(tasks)
    assert (datetime.datetime.now() - start).total_seconds() < 5
    warnings = {os.path.basename(d.values["path"]): d.values["error"] for d in data if d.data_type == "sandtrace:warning"}
    assert set(warnings) == {"Laughs", "Xxe", "Junk", "Huge", "NotATask"}
    assert "refused hostile XML" in warnings["Laughs"] and "refused hostile XML" in warnings["Xxe"]
    assert "binary data" in warnings["Junk"]
    assert "too large" in warnings["Huge"]
    assert "not <Task>" in warnings["NotATask"]
    assert len(_tasks(data)) == 3


def test_task_names_and_direct_parsing():
    assert task_path("\\Windows\\System32\\Tasks\\Microsoft\\Windows\\SysCache\\Update") == "\\Microsoft\\Windows\\SysCache\\Update"
    assert task_path("\\WINDOWS\\system32\\tasks\\X") == "\\X"
    with pytest.raises(TaskXmlError):
        parse_task(b"")
    assert parse_task(MIRRORFACE_TASK.encode("utf-8"))["user_id"] == "S-1-5-18"
