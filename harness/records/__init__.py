"""Records: the result schema, the append-only store and the environment captured with each record."""

from harness.records.environment import environment
from harness.records.schema import SCHEMA_VERSION, Record, RecordBase, RecordType, Status
from harness.records.store import ResultsStore, read_records, records_frame

__all__ = ["SCHEMA_VERSION", "Record", "RecordBase", "RecordType", "ResultsStore", "Status", "environment",
           "read_records", "records_frame"]
