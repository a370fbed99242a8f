-- A new kind of document: an SLA's partners-only figures (kept from the SLA's guests).
--
-- SQLite cannot alter a CHECK constraint, and the usual table rebuild needs foreign keys off,
-- which cannot be switched inside the transaction every migration runs in. Widening a CHECK
-- changes no stored row, so this takes the route SQLite documents for exactly that case
-- ("ALTER TABLE", section 7): rewrite the table's definition in the schema table, reload it,
-- and make one real schema change so every other connection's schema cookie moves and they
-- reload it too.
pragma writable_schema = on;
update sqlite_schema
   set sql = replace(sql,
                     'check (kind in (''risk-register'', ''sla'', ''agreement'', ''meeting''))',
                     'check (kind in (''risk-register'', ''sla'', ''sla-figures'', ''agreement'', ''meeting''))')
 where type = 'table' and name = 'documents';
pragma writable_schema = reset;
create table concordat_schema_cookie (x integer);
drop table concordat_schema_cookie;
