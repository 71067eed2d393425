"""How a session's native services look to clients: from the record alone (list), or live from one
snapshot of the host's process and socket tables (status). The rules are in
modes/native_rows.py."""

from __future__ import annotations

from collections.abc import Mapping

from berth.adapters.process_table import HostSnapshot
from berth.domain.models import ServiceView
from berth.domain.records import SessionRecord
from berth.modes.native_rows import native_row


def native_service_views(
    record: SessionRecord, ports: Mapping[str, int], host: HostSnapshot | None
) -> list[ServiceView]:
    return [_view(record, name, port, host) for name, port in ports.items()]


def _view(record: SessionRecord, name: str, port: int, host: HostSnapshot | None) -> ServiceView:
    proc = record.processes.get(name)
    as_dict = (
        None if proc is None else {"pid": proc.pid, "start_time": proc.start_time, "log_path": proc.log_path}
    )
    return ServiceView.model_validate(native_row(record.status.value, name, port, as_dict, host))
