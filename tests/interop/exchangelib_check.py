"""exchangelib (PyPI) against s2sd's EWS endpoint, with tokens minted by `s2sd token issue`.

Checks, each printed as `ok - <name>` or `not ok - <name>: <why>`:

1. act-as (delegate access): with an act-as token for the user, open the Conversation History
   folder, save a message there, find it by subject, read it back, delete it, and see it gone;
   save and update a contact in Contacts, then delete it.
2. impersonation: with an app-only token of a partner whose linked account holds UserApplication,
   open the user's mailbox through ExchangeImpersonation and do the same message round trip.
3. rejection: an app-only token of a partner whose linked account has no role is refused with
   ErrorImpersonateUserDenied.
4. archive: an app-only token of a partner whose linked account holds ArchiveApplication may save
   into the user's archive folder, but not read the inbox (ErrorAccessDenied).

usage: exchangelib_check.py --endpoint URL [--cafile PEM] --user SMTP --act-as-token FILE
                            --impersonation-token FILE --denied-token FILE --archive-token FILE
"""

import argparse
import os
import sys
import traceback
import uuid

import requests.adapters
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Contact,
    Mailbox,
    Message,
    Version,
)
from exchangelib.credentials import OAuth2AuthorizationCodeCredentials
from exchangelib.indexed_properties import EmailAddress, PhoneNumber
from exchangelib.protocol import BaseProtocol
from checks import CheckFailed, require

RESULTS = {"ok": 0, "bad": 0}


def ok(name):
    RESULTS["ok"] += 1
    print(f"ok - {name}", flush=True)


def not_ok(name, why):
    RESULTS["bad"] += 1
    print(f"not ok - {name}: {why}", flush=True)


def check(name):
    """Runs the decorated function as one check; an exception is a failure with its reason."""

    def wrap(fn):
        try:
            fn()
            ok(name)
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            not_ok(name, f"{type(e).__name__}: {e}")
            for line in traceback.format_exc().splitlines()[-8:]:
                print(f"# {line}")

    return wrap


def account(endpoint, token, smtp, access_type):
    credentials = OAuth2AuthorizationCodeCredentials(access_token={"access_token": token, "token_type": "Bearer"})
    config = Configuration(
        service_endpoint=endpoint,
        credentials=credentials,
        auth_type=OAUTH2,
        version=Version(build=Build(15, 1, 2507, 6)),
        max_connections=1,
    )
    return Account(primary_smtp_address=smtp, config=config, autodiscover=False, access_type=access_type)


def fetch_one(acct, item):
    """GetItem for one item; an error response message is raised."""
    [got] = list(acct.fetch(ids=[(item.id, item.changekey)]))
    if isinstance(got, Exception):
        raise got
    return got


def message_round_trip(acct, who):
    folder = acct.conversation_history
    require(folder.name == "Conversation History", f"folder is named {folder.name!r}")
    subject = f"s2s interop {who} {uuid.uuid4()}"
    msg = Message(
        account=acct,
        folder=folder,
        subject=subject,
        body=f"IM conversation saved by exchangelib ({who})",
        to_recipients=[Mailbox(email_address=acct.primary_smtp_address)],
    )
    msg.save()
    require(msg.id and msg.changekey, "CreateItem returned no ItemId")
    found = list(folder.filter(subject=subject))
    require(len(found) == 1, f"FindItem by subject found {len(found)} items")
    require(found[0].id == msg.id, "FindItem returned another item id")
    fetched = fetch_one(acct, msg)
    require(fetched.subject == subject, f"GetItem subject {fetched.subject!r}")
    require("IM conversation" in str(fetched.body), f"GetItem body {fetched.body!r}")
    total_before = folder.all().count()
    fetched.delete()
    require(not list(folder.filter(subject=subject)), "the item is still there after DeleteItem")
    require(folder.all().count() == total_before - 1, "the folder count did not drop")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--cafile")
    p.add_argument("--user", required=True)
    p.add_argument("--act-as-token", required=True)
    p.add_argument("--impersonation-token", required=True)
    p.add_argument("--denied-token", required=True)
    p.add_argument("--archive-token", required=True)
    a = p.parse_args()
    if a.cafile:
        os.environ["REQUESTS_CA_BUNDLE"] = a.cafile
    else:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    BaseProtocol.HTTP_ADAPTER_CLS = requests.adapters.HTTPAdapter
    read = lambda path: open(path, encoding="ascii").read().strip()  # noqa: E731
    endpoint, user = a.endpoint, a.user

    @check("exchangelib act-as: GetFolder root and conversationhistory, CreateItem, FindItem, GetItem, DeleteItem")
    def _():
        message_round_trip(account(endpoint, read(a.act_as_token), user, DELEGATE), "act-as")

    @check("exchangelib act-as: contact saved in Contacts, updated (UpdateItem), deleted")
    def _():
        acct = account(endpoint, read(a.act_as_token), user, DELEGATE)
        contact = Contact(
            account=acct,
            folder=acct.contacts,
            given_name="Ken",
            surname="Myer",
            display_name="Ken Myer",
            email_addresses=[EmailAddress(label="EmailAddress1", email="kenmyer@litwareinc.com")],
            phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+1 425 555 0100")],
        )
        contact.save()
        contact.job_title = "Engineer"
        contact.save(update_fields=["job_title"])
        back = fetch_one(acct, contact)
        require(back.job_title == "Engineer", f"job title {back.job_title!r} after UpdateItem")
        require(back.display_name == "Ken Myer", f"display name {back.display_name!r}")
        require([e.email for e in back.email_addresses or []] == ["kenmyer@litwareinc.com"], back.email_addresses)
        back.delete()

    @check("exchangelib impersonation: app-only token, linked account with UserApplication, same round trip")
    def _():
        message_round_trip(account(endpoint, read(a.impersonation_token), user, IMPERSONATION), "impersonation")

    @check("exchangelib impersonation by a linked account without roles: ErrorImpersonateUserDenied")
    def _():
        from exchangelib.errors import ErrorImpersonateUserDenied

        acct = account(endpoint, read(a.denied_token), user, IMPERSONATION)
        try:
            folder = acct.inbox
            items = list(folder.all())
        except ErrorImpersonateUserDenied:
            return
        raise CheckFailed(f"the inbox opened ({len(items)} items) without UserApplication")

    @check("exchangelib ArchiveApplication: saves into the archive folder, inbox read refused (ErrorAccessDenied)")
    def _():
        from exchangelib.errors import ErrorAccessDenied
        from exchangelib.folders import ArchiveMsgFolderRoot

        acct = account(endpoint, read(a.archive_token), user, IMPERSONATION)
        archive = acct.archive_root.get_default_folder(ArchiveMsgFolderRoot)
        msg = Message(account=acct, folder=archive, subject=f"archived {uuid.uuid4()}", body="archived conversation")
        msg.save()
        require(msg.id, "CreateItem into the archive returned no id")
        try:
            list(acct.inbox.all())
        except ErrorAccessDenied:
            return
        raise CheckFailed("the inbox was readable with ArchiveApplication only")

    print(f"# exchangelib checks: {RESULTS['ok']} ok, {RESULTS['bad']} not ok")
    return 0 if RESULTS["bad"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
