"""Integrations: e-mail in (SMTP listener, IMAP poller) with a quarantine for
unknown senders, NetBox import, and alerts from the monitoring people already
run (Alertmanager, LibreNMS, Zabbix). Sits at the incidents level: it may
import incidents/, cmdb/ and accounts/; nothing below imports it."""
