-- Several server nodes on one database: what one node issues and another redeems.

-- Single-use websocket tickets (only their SHA-256 is kept): issued by the node that answered
-- `POST /api/sync/ticket`, redeemed by whichever node the websocket reaches.
create table live_tickets (
    hash        text primary key,
    user_id     uuid not null references users (id),
    session_id  uuid not null,
    expires_at  bigint not null
);
create index live_tickets_expiry on live_tickets (expires_at);
alter table live_tickets enable row level security;
alter table live_tickets force row level security;
create policy live_tickets_system on live_tickets for all
    using ((select concordat_is_system()))
    with check ((select concordat_is_system()));
grant select, insert, delete on live_tickets to concordat_system;

-- automerge-repo peer ids in use, with their user: a `join` on any node may not claim
-- another user's peer id. `node` and `conn` name the connection holding it, so that only that
-- connection's end releases it.
create table live_peers (
    peer_id     text primary key,
    user_id     uuid not null references users (id),
    node        text not null,
    conn        bigint not null,
    claimed_at  bigint not null
);
alter table live_peers enable row level security;
alter table live_peers force row level security;
create policy live_peers_system on live_peers for all
    using ((select concordat_is_system()))
    with check ((select concordat_is_system()));
grant select, insert, update, delete on live_peers to concordat_system;
