-- Refresh tokens already exchanged. A refresh token works once; presenting one of these again
-- means it was copied, so the whole session (every token it has issued) is revoked. Only
-- system work (token refresh) touches it.
create table refresh_spent (
    hash        text primary key,
    session_id  uuid not null references sessions (id) on delete cascade,
    spent_at    bigint not null
);
create index refresh_spent_session on refresh_spent (session_id);

alter table refresh_spent enable row level security;
alter table refresh_spent force row level security;
create policy refresh_spent_system on refresh_spent for all
    using ((select concordat_is_system()))
    with check ((select concordat_is_system()));
grant select, insert, delete on refresh_spent to concordat_system;
