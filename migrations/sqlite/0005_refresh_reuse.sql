-- Refresh tokens already exchanged. A refresh token works once; presenting one of these again
-- means it was copied, so the whole session (every token it has issued) is revoked.
create table refresh_spent (
    hash        text primary key,
    session_id  blob not null references sessions (id) on delete cascade,
    spent_at    integer not null
);
create index refresh_spent_session on refresh_spent (session_id);
