"""Message in, decision out, for the organisers' desk: commands mailed to [list] desk_address. Pure functions.

check_desk runs in inbox/decide.py CHECKS after the spoofing check and before the poll and list checks, so mail to
the desk is never a post, a vote or a registration, and mail to any other address is never a command. A reply
carrying a token (the "ja" to a desk confirmation) is left to listrules.check_list_mail, as every token reply is;
inbox/list_handlers.py hands desk tokens to inbox/desk_handlers.py.

Who may use it: an organiser ([network] organisers) whose message proves its From (inbox/proof.py: our own
server's DMARC/SPF/DKIM pass, or a reply to our mail to that address). Anyone else gets a short refusal and no data.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from inbox import desk_commands, listrules
from inbox.decision import Context, Decision
from inbox.proof import proof

if TYPE_CHECKING:
    from inbox.message import Incoming

# Actions, each handled by one function in inbox/desk_handlers.py.
COMMAND = "desk_command"  # a proven organiser's command
REFUSE = "desk_refuse"  # someone who is no organiser
UNVERIFIED = "desk_unverified"  # an organiser's address, but nothing proves the message comes from them


def to_desk(msg: Incoming, ctx: Context) -> bool:
    return bool(ctx.desk_address) and ctx.desk_address in listrules.recipients(msg.msg)


def check_desk(msg: Incoming, ctx: Context) -> Decision | None:
    if not to_desk(msg, ctx) or listrules.token_in(msg, ctx):
        return None
    if msg.sender not in ctx.organisers:
        return Decision(REFUSE, f"mail to the desk by {msg.sender}, who is no organiser: nothing done")
    how = proof(msg, ctx)
    if not how:
        return Decision(UNVERIFIED, "desk command from an organiser's address that is not proven (no DMARC, SPF "
                        "or DKIM pass from our server, no reply to our mail): nothing done")
    command = desk_commands.parse(msg.subject, msg.own_text, [m.date for m in ctx.meetings], ctx.today)
    return Decision(COMMAND, f"desk: {command.describe()} (organiser, {how})", meeting_date=command.day,
                    detail=command)
