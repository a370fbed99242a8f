-- A new kind of document: an SLA's partners-only figures (kept from the SLA's guests).
alter table documents drop constraint documents_kind_check;
alter table documents add constraint documents_kind_check
    check (kind in ('risk-register', 'sla', 'sla-figures', 'agreement', 'meeting'));
