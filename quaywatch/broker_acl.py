"""The embedded broker's (amqtt) accounts plugin: password login and per-account topic rights.

No account, a wrong password or no username: refused (amqtt answers CONNACK "not authorized"). A publish
outside the account's `write` topics, a subscription outside its `read` filters, or any topic with a control
character is refused; such a publish is dropped, such a subscription gets a failure SUBACK. Every refusal is
logged with the names quoted by repr(), so a newline in a topic or name cannot forge a log line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from paho.mqtt.client import topic_matches_sub

from quaywatch.errors import QuaywatchError
from quaywatch.mqtt_passwd import verify_password

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Rights:
    hash: str
    write: tuple[str, ...]
    read: tuple[str, ...]


def load_accounts(path: str | Path) -> dict[str, Rights]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return {name: Rights(u["hash"], tuple(u.get("write", ())), tuple(u.get("read", ())))
                for name, u in doc["users"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise QuaywatchError(f"{path}: not a usable broker accounts file ({type(exc).__name__}: {exc})") from None


def allowed(rights: Rights, topic: str, action: Action) -> bool:
    if CONTROL.search(topic):
        return False
    if action == Action.PUBLISH:
        return any(topic_matches_sub(w, topic) for w in rights.write)
    # SUBSCRIBE: the requested filter must lie inside a read filter ('+' and '#' in it match only
    # a '+' or '#' of ours); RECEIVE: the topic itself.
    return any(topic_matches_sub(r, topic) for r in rights.read)


class AccountsPlugin(BaseAuthPlugin, BaseTopicPlugin):
    @dataclass
    class Config:
        accounts_file: str = ""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.accounts = load_accounts(self.config.accounts_file)

    async def authenticate(self, *, session) -> bool:
        name, password = session.username, session.password
        rights = self.accounts.get(name) if name else None
        if rights is None or password is None or not verify_password(password, rights.hash):
            self.context.logger.warning("refused MQTT login of %r from client %r", name, session.client_id)
            return False
        return True

    async def topic_filtering(self, *, session=None, topic: str | None = None, action: Action | None = None) -> bool:
        rights = self.accounts.get(session.username) if session and session.username else None
        ok = bool(rights and topic and action is not None and allowed(rights, topic, action))
        if not ok and action != Action.RECEIVE:
            self.context.logger.warning("refused MQTT %s of %r by %r", action.value if action else "?", topic,
                                        session.username if session else None)
        return ok
