/// The SMTP door (`linkstamp smtpd`): an ESMTP server that prepares each message in process at
/// the end of DATA, refuses a bad one with the exact reply, relays every copy downstream and
/// acknowledges only what the downstream accepted. `SMTPServerSession` is the protocol as a pure
/// state machine (no I/O); the NIO handlers around it only move bytes.
public enum SMTPDoor {}
