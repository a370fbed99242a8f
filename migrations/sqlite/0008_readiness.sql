-- Each server node's last successful readiness write (`/readyz` proves a write commits).
create table node_heartbeats (
    node  text primary key,
    at    integer not null
);
