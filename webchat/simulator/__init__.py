"""The offline Grok simulator: script.py decides what to answer, server.py serves it over
real HTTP, tables.py holds the errors and faults it can be asked for."""

from webchat.simulator.script import compose_reply, parse_directive, tokenize
from webchat.simulator.server import Simulator
from webchat.simulator.tables import ERRORS, FAULTS

__all__ = ["ERRORS", "FAULTS", "Simulator", "compose_reply", "parse_directive", "tokenize"]
