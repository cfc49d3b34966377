/// The SMTP door (`linkstamp smtpd`): an ESMTP server that prepares each message in process at
/// the end of DATA, refuses a bad one with the exact reply, relays every copy downstream and
/// acknowledges only what the downstream accepted. `SMTPServerSession` is the protocol as a pure
/// state machine (no I/O); the NIO handlers around it only move bytes.
///
/// It owns the server side of ESMTP (`SMTPServerSession`, `SMTPServerLimits`, `SMTPDoorServer`),
/// the client side towards the relay (`RelayClient`, the reply parser) and the end-of-DATA
/// decision (`MessageDelivery`).
///
/// It must never: answer `250` before the relay accepted every copy; write an event for a
/// message its client did not get a `250` for; accept a bare CR or LF inside DATA; advertise an
/// extension it does not implement; prepare, rewrite or sign mail itself (the `Linkstamp`
/// engine does); or let a client hold more than its limits (connections, silence, size,
/// recipients, errors, pipelined input).
///
/// Depends on `Linkstamp`, `SMTPAPI` (the reply type) and SwiftNIO (`NIOCore`, `NIOPosix`).
public enum SMTPDoor {}
