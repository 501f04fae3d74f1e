-- Several helpdesk addresses in one daemon ([[mailboxes]]): the address a ticket came in at,
-- so every mail about it is sent from that address. NULL is the [helpdesk] address (and every
-- ticket from before this migration).
ALTER TABLE tickets ADD COLUMN mailbox TEXT;
