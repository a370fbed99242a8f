-- Each server node's last successful readiness write (`/readyz` proves a write commits).
create table node_heartbeats (
    node  text primary key,
    at    bigint not null
);
alter table node_heartbeats enable row level security;
alter table node_heartbeats force row level security;
create policy node_heartbeats_system on node_heartbeats for all
    using ((select concordat_is_system()))
    with check ((select concordat_is_system()));
grant select, insert, update on node_heartbeats to concordat_system;
