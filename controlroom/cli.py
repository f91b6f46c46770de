"""`quaywatch users ...`: who may log in to the control-room page, and with which role.

The password is never an argument (it would sit in the shell history and the process list): it is read
from the terminal, or from the environment variable named by --password-env for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import os

from quaywatch.errors import QuaywatchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="control-room users: add, list, remove, set a password or role")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--site", help="site YAML file; its controlroom.users_db is used")
    where.add_argument("--db", help="the users database file itself")
    cmds = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = cmds.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", choices=("viewer", "operator", "admin"), default="operator")
    add.add_argument("--password-env", help="read the password from this environment variable, not the terminal")
    add.set_defaults(func=_add)
    cmds.add_parser("list", help="list users and roles").set_defaults(func=_list)
    rm = cmds.add_parser("remove", help="remove a user (and end their sessions)")
    rm.add_argument("name")
    rm.set_defaults(func=_remove)
    pw = cmds.add_parser("passwd", help="set a new password (and end the user's sessions)")
    pw.add_argument("name")
    pw.add_argument("--password-env")
    pw.set_defaults(func=_passwd)
    role = cmds.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=("viewer", "operator", "admin"))
    role.set_defaults(func=_role)


def _store(args: argparse.Namespace):
    from quaywatch.config.controlroom import ControlRoomConfig
    from quaywatch.controlroom.users import UserStore

    if args.db:
        return UserStore(args.db)
    if args.site:
        from quaywatch.config.loader import load_site

        return UserStore(load_site(args.site).controlroom.users_db)
    return UserStore(ControlRoomConfig().users_db)


def _password(args: argparse.Namespace) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise QuaywatchError(f"environment variable {args.password_env} is not set")
        return value
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise QuaywatchError("the two passwords differ")
    return first


def _add(args: argparse.Namespace) -> int:
    user = _store(args).add(args.name, args.role, _password(args))
    print(f"added {user.name} ({user.role})")
    return 0


def _list(args: argparse.Namespace) -> int:
    for u in _store(args).list():
        print(f"{u.name}\t{u.role}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    _store(args).remove(args.name)
    print(f"removed {args.name}")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    _store(args).set_password(args.name, _password(args))
    print(f"new password set for {args.name}; their sessions are ended")
    return 0


def _role(args: argparse.Namespace) -> int:
    _store(args).set_role(args.name, args.role)
    print(f"{args.name} is now {args.role}")
    return 0
