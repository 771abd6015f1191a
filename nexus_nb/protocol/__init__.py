"""The Nexus WebSocket protocol: message shapes, validation and filters, with no I/O.

Everything the reference server and clients exchange is built and parsed here,
field for field and in the reference's key order, so that the reference Node and
browser clients read our frames byte for byte as they read the reference
server's. Our extensions are additive: extra fields the reference clients ignore,
and actions/message types they never send or ask for.

Client actions (client -> server)
=================================
============  ========================================================  ==========
action        fields                                                    reply
============  ========================================================  ==========
subscribe     ``channels`` (list), ``filters`` (object, optional);      subscription_confirmed
              ext: ``id``, ``resume`` {epoch, seq: {channel: n}},       or subscription_error
              ``batch`` {maxlen, interval, format}
unsubscribe   ``channels`` (list); ext: ``id``                          unsubscription_confirmed
ping          ext: ``id``                                               pong
publish       ext: ``channel``, ``data`` (object) or ``events`` (list   publish_ack
              of objects), ``timestamp`` (optional ISO), ``id``
recover       ext: ``channel``, ``from_seq``, ``to_seq``, ``id``: the   the events,
              range of an ``overflow`` gap, sent again from retention   then recovered
============  ========================================================  ==========

Server messages (server -> client)
==================================
* ``connection_established`` {client_id, timestamp}; ext: epoch, server, extensions
* ``subscription_confirmed`` {channels, filters, subscription_id}; ext: id
* ``subscription_error`` {message}; ext: code, channels, id
* ``unsubscription_confirmed`` {channels}; ext: id
* ``event`` {channel, timestamp, data}; ext: seq (per channel, from 1, in the epoch)
* ``error`` {message, code}; ext: id
* ``pong`` {timestamp}; ext: id
* ext ``event_batch`` {channel, events: [event, ...]}: only to clients that asked;
  with ``batch.format = "columns"``: {channel, format, count, seq: [...],
  timestamp: [...], data: {field: [...]}} (:mod:`nexus_nb.protocol.columns`)
* ext ``publish_ack`` {channel, count, seq}; ``gap`` {channel, missed, from_seq,
  to_seq, reason}: events the client will never get (retention or overflow)
* ext ``recovered`` {channel, from_seq, to_seq, count}; ext: id: the answer to a
  ``recover``, after the ``count`` retained events of ``from_seq``..``to_seq``
  that match the client's filters (``to_seq`` earlier than asked: ask for the rest)

A client reads each with :func:`parse_server_message` (a :class:`Greeting`,
:class:`EventFrame`, :class:`Reply` or :class:`Notice`), as a server reads
actions with :func:`parse_request`.

Error codes
===========
See :class:`ErrorCode`; each member's docstring line is the table.

Filter semantics (the reference's ``matchesFilters``): every key must match the
event's ``data[key]``; a list value means "any of"; comparison is JSON strict
equality (``true`` is not ``1``; a missing key matches nothing, not even null).
"""

from __future__ import annotations

from nexus_nb.protocol.columns import EventColumns, as_messages, event_columns
from nexus_nb.protocol.filter import Filter, filter_text, filter_value
from nexus_nb.protocol.message import (
    connection_established,
    dumps,
    error,
    event,
    event_batch,
    gap,
    isotime,
    loads,
    ping,
    pong,
    publish,
    publish_ack,
    recover,
    recovered,
    subscribe,
    subscription_confirmed,
    subscription_error,
    unsubscribe,
    unsubscription_confirmed,
)
from nexus_nb.protocol.request import (
    Batch,
    Ping,
    Publish,
    Recover,
    Request,
    Subscribe,
    Unsubscribe,
    parse_request,
)
from nexus_nb.protocol.server_message import (
    REPLY_TYPES,
    EventFrame,
    Greeting,
    Notice,
    Reply,
    ServerMessage,
    greeting,
    parse_server_message,
)
from nexus_nb.protocol.spec import (
    CHANNELS,
    MAX_CHANNEL_LENGTH,
    Action,
    ErrorCode,
    Limits,
)

__all__ = [
    "CHANNELS",
    "MAX_CHANNEL_LENGTH",
    "REPLY_TYPES",
    "Action",
    "Batch",
    "ErrorCode",
    "EventColumns",
    "EventFrame",
    "Filter",
    "Greeting",
    "Limits",
    "Notice",
    "Ping",
    "Publish",
    "Recover",
    "Reply",
    "Request",
    "ServerMessage",
    "Subscribe",
    "Unsubscribe",
    "as_messages",
    "connection_established",
    "dumps",
    "error",
    "event",
    "event_batch",
    "event_columns",
    "filter_text",
    "filter_value",
    "gap",
    "greeting",
    "isotime",
    "loads",
    "parse_request",
    "parse_server_message",
    "ping",
    "pong",
    "publish",
    "publish_ack",
    "recover",
    "recovered",
    "subscribe",
    "subscription_confirmed",
    "subscription_error",
    "unsubscribe",
    "unsubscription_confirmed",
]
