"""API keys from the command line (the plain key is printed once, only its hash is stored).

    python -m chalicelib.partners create-key --partner 2     # a partner's key
    python -m chalicelib.partners create-key --staff --owner "Ayu Lestari <ayu@julo.co.id>"  # a staff key
    python -m chalicelib.partners rotate-key --partner 2     # a new key; the old one ends in 7 days
    python -m chalicelib.partners revoke-key jk_AbCdEfGh     # by the key's first 11 characters
    python -m chalicelib.partners list-keys [--partner 2] [--all]

Every change is recorded with who made it (``--by``, default the operating-system user) in the
keys' audit trail. Partner keys expire ``PARTNER_KEY_EXPIRY_DAYS`` (default 365) days after
creation, staff keys ``STAFF_KEY_EXPIRY_DAYS`` (default 90, at most 366), unless
``--expires-in-days`` says otherwise. A staff key names the person who holds it (``--owner``);
``--by`` is who issued it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime, timedelta

from chalicelib import db
from chalicelib.partners.keys import (
    PREFIX_CHARS,
    KeyInfo,
    TooManyLiveKeys,
    UnknownPartner,
    create_partner_key,
    create_staff_key,
    default_key_lifetime,
    default_staff_key_lifetime,
    list_keys,
    revoke_key,
    rotate_partner_key,
)
from chalicelib.settings import KeyAdminSettings

DEFAULT_GRACE_DAYS = 7
LIST_COLUMNS = ("key", "scope", "partner", "state", "created", "created_by", "expires", "last_used",
                "revoked", "revoked_by", "owner")


def _operator() -> str:
    return getpass.getuser()


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.partners")
    commands = parser.add_subparsers(dest="command", required=True)
    by = argparse.ArgumentParser(add_help=False)
    by.add_argument("--by", default=None, metavar="NAME",
                    help="who does this, for the audit trail (default: the operating-system user)")
    expiry = argparse.ArgumentParser(add_help=False)
    expiry.add_argument("--expires-in-days", type=_positive, default=None, metavar="DAYS",
                        help="lifetime of the new key (default: PARTNER_KEY_EXPIRY_DAYS, 365; a staff key: "
                             "STAFF_KEY_EXPIRY_DAYS, 90, at most 366)")

    create = commands.add_parser("create-key", parents=[by, expiry], help="create an API key and print it once")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--partner", type=int, metavar="ID", help="partner id the key reads for")
    who.add_argument("--staff", action="store_true", help="a staff key (CRM, push notifications, analytics)")
    create.add_argument("--owner", metavar="NAME", help="a staff key's holder: the person's name and e-mail "
                                                        "(required with --staff)")

    rotate = commands.add_parser("rotate-key", parents=[by, expiry],
                                 help="a new key for a partner; its current key expires after a grace period")
    rotate.add_argument("--partner", type=int, metavar="ID", required=True)
    rotate.add_argument("--grace-days", type=_positive, default=DEFAULT_GRACE_DAYS, metavar="DAYS",
                        help=f"days the old key keeps working (default {DEFAULT_GRACE_DAYS})")

    revoke = commands.add_parser("revoke-key", parents=[by], help="revoke a key by its first characters")
    revoke.add_argument("prefix", help=f"the key's first {PREFIX_CHARS} characters")

    listing = commands.add_parser("list-keys", help="keys with expiry, last use, who created / revoked them")
    listing.add_argument("--partner", type=int, metavar="ID", help="one partner's keys")
    listing.add_argument("--staff", action="store_true", help="staff keys only")
    listing.add_argument("--all", action="store_true", help="revoked and expired keys too")
    return parser


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def format_keys(keys: list[KeyInfo]) -> str:
    rows = [LIST_COLUMNS] + [
        (k.key_prefix, k.scope, "-" if k.partner_id is None else str(k.partner_id), k.state, _when(k.created_at),
         k.created_by or "-", _when(k.expires_at), _when(k.last_used_at), _when(k.revoked_at), k.revoked_by or "-",
         k.owner or "-")  # last: a staff key's owner is a name with spaces
        for k in keys
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(LIST_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    actor = getattr(args, "by", None) or _operator()
    lifetime = timedelta(days=args.expires_in_days) if getattr(args, "expires_in_days", None) else None
    conn = db.connect()
    try:
        if args.command in ("create-key", "rotate-key"):
            try:
                if lifetime is None:  # the settings' PARTNER_KEY_EXPIRY_DAYS / STAFF_KEY_EXPIRY_DAYS
                    admin = KeyAdminSettings.from_environment()
                    staff = args.command == "create-key" and args.staff
                    lifetime = default_staff_key_lifetime(admin) if staff else default_key_lifetime(admin)
                if args.command == "rotate-key":
                    key = rotate_partner_key(conn, args.partner, actor=actor, expires_in=lifetime,
                                             grace=timedelta(days=args.grace_days))
                elif args.staff:
                    key = create_staff_key(conn, owner=args.owner or "", actor=actor, expires_in=lifetime)
                elif args.owner:
                    raise ValueError("--owner is for staff keys (a partner key is the partner's)")
                else:
                    key = create_partner_key(conn, args.partner, actor=actor, expires_in=lifetime)
            except (UnknownPartner, TooManyLiveKeys, ValueError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(key)
            print("store it now: only its hash is kept, it cannot be shown again", file=sys.stderr)
            if args.command == "rotate-key":
                print(f"the partner's previous key stops working in {args.grace_days} day(s) at the latest",
                      file=sys.stderr)
        elif args.command == "revoke-key":
            n = revoke_key(conn, args.prefix[: PREFIX_CHARS], actor=actor)
            print(f"revoked {n} key(s)")
            if n == 0:
                return 1
        else:
            keys = list_keys(conn, partner_id=args.partner, scope="staff" if args.staff else None,
                             include_ended=args.all)
            print(format_keys(keys))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
