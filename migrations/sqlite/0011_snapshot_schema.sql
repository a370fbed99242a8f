-- A snapshot records the schema version of the document it holds, so that a room can answer a
-- peer that has nothing with the stored snapshot without loading it, when the version is
-- current (an older one is loaded and upgraded first). Null: an incremental chunk, or a
-- snapshot written before this column existed (loaded as before).
alter table doc_chunks add column schema_version integer;
