-- The sync runtime's usual append (changes to a few documents, no actor new to any of them) in
-- one call: the committer made five round trips per batch (begin, the documents' locks, the
-- insert, the notices, commit), each a wake-up on both sides, on the path of every edit.
--
-- PL/pgSQL runs each statement inside with a snapshot of its own (read committed), so the
-- documents' advisory locks are held before their last sequence numbers are read, exactly as in
-- the general path's transaction; one SQL statement would read them on the snapshot it began
-- with, before another node's append that committed while it waited for the lock. The locks are
-- taken in the order given (the caller sorts them, as the general path does, so nodes never
-- deadlock); each stored chunk is announced on the chunks channel as `Stored::encode` writes it
-- (origin, document, sequence number, time), delivered only if the call's transaction commits.
--
-- Not security definer: it runs with its caller's rights (the system connection's), as the
-- statements it replaces did. Only system work may call it.
create function concordat_append(
    p_lock_class integer,
    p_locks text[],
    p_channel text,
    p_origin text,
    p_ids text[],
    p_data bytea[],
    p_sums text[],
    p_at bigint
) returns table (stored_document text, stored_seq bigint) language plpgsql volatile
    set search_path = pg_catalog, public
as $$
declare
    r record;
begin
    perform count(pg_advisory_xact_lock(p_lock_class, hashtext(id))) from unnest(p_locks) as id;
    for r in
        with input as (
            select doc, data, sum, ord
            from unnest(p_ids, p_data, p_sums) with ordinality as t(doc, data, sum, ord)),
        numbered as (
            select i.doc, i.data, i.sum,
                   coalesce((select max(c.seq) from doc_chunks c where c.document_id = i.doc), 0)
                     + row_number() over (partition by i.doc order by i.ord) as seq
            from input i)
        insert into doc_chunks (document_id, seq, kind, data, checksum, created_at)
        select doc, seq, 'incremental', data, sum, p_at from numbered
        returning doc_chunks.document_id, doc_chunks.seq
    loop
        perform pg_notify(p_channel,
            p_origin || ' ' || r.document_id || ' ' || r.seq::text || ' ' || p_at::text);
        stored_document := r.document_id;
        stored_seq := r.seq;
        return next;
    end loop;
end
$$;
revoke all on function concordat_append(integer, text[], text, text, text[], bytea[], text[], bigint)
    from public;
grant execute on function concordat_append(integer, text[], text, text, text[], bytea[], text[], bigint)
    to concordat_system;
