"""Erasure and export: every table declares its policy; an erasure leaves no personal data in
any table, keeps every count and amount, and records proof without the data."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, MetaData, String, Table, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, Database
from siyu.core.errors import SiyuError
from siyu.core.privacy import Erasure
from siyu.identity import service as identity
from siyu.identity.enums import ConsentPurpose
from siyu.identity.models import ErasureRecord, Member, TimelineEvent
from siyu.security.enums import Role
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID
from tests.support.people import MP_TOKEN, Person, make_person
from tests.support.security import Staff, audit_actions, row_counts


@pytest.fixture
def person(
    db: Database, workspace_id: int, mp_app: AppRead, oa_app: AppRead, owner: Principal
) -> Person:
    return make_person(db, workspace_id, mp_app, oa_app, owner)


def dump(db: Database) -> dict[str, str]:
    """Every table as text, encrypted columns decrypted: what a thief with the keys would read."""
    with db.session_scope() as session:
        return {
            t.name: "\n".join(str(dict(row)) for row in session.execute(select(t)).mappings())
            for t in Base.metadata.sorted_tables
        }


def figures(db: Database, workspace_id: int) -> dict[str, Any]:
    with db.session_scope() as session:
        amounts = [
            (props or {}).get("amount_fen", 0)
            for props in session.scalars(select(TimelineEvent.props))
        ]
        return {
            "members": session.scalar(select(func.count()).select_from(Member)),
            "events": session.scalar(select(func.count()).select_from(TimelineEvent)),
            "paid_fen": sum(amounts),
            "overview": identity.overview(session, workspace_id, "Asia/Shanghai").model_dump(),
        }


# --- the registry --------------------------------------------------------------------------


def test_every_table_declares_its_erasure_policy() -> None:
    assert identity.undeclared_tables() == []


def test_policies_name_real_columns_and_cover_every_member_reference() -> None:
    for tp in identity.table_policies():
        policy = tp.policy
        columns = set(tp.table.c.keys())
        assert set(policy.member) | set(policy.wechat_ids) | set(policy.scrub) <= columns, tp.name
        assert set(policy.private) <= columns, tp.name
        member_fks = {
            fk.parent.name for fk in tp.table.foreign_keys if fk.column.table.name == "members"
        }
        if tp.name != "members":
            # a table pointing at members holds something of theirs: it says what becomes of it
            assert member_fks <= set(policy.member), (tp.name, member_fks)
            if member_fks:
                assert policy.action != "none", tp.name
        if policy.action == "anonymize":
            encrypted = {c.name for c in tp.table.c if isinstance(c.type, EncryptedText)}
            assert encrypted <= set(policy.scrub), (tp.name, encrypted)


def test_a_table_without_a_policy_is_found() -> None:
    # given models of which one declares nothing
    class Models(DeclarativeBase):
        pass

    class Declared(Models):
        __tablename__ = "declared"
        __erasure__ = Erasure.none("nothing personal")
        id: Mapped[int] = mapped_column(primary_key=True)

    class Undeclared(Models):
        __tablename__ = "undeclared"
        id: Mapped[int] = mapped_column(primary_key=True)

    # then the registry check names it
    assert identity.undeclared_tables(Models) == ["undeclared"]


# --- erasure -------------------------------------------------------------------------------


def test_erasure_leaves_no_personal_data_and_keeps_the_figures(
    db: Database, workspace_id: int, person: Person, api: TestClient
) -> None:
    # given a member with personal data in every table, merged with a second member
    before = figures(db, workspace_id)
    assert all(secret in "".join(dump(db).values()) for secret in person.secrets)
    # when staff erase them
    response = api.post(f"/api/members/{person.member_id}/erase")
    # then no table holds anything of theirs, decrypted or not
    assert response.status_code == 200, response.text
    after = dump(db)
    for table, content in after.items():
        for secret in person.secrets:
            assert secret not in content, (table, secret)
    # and every count and amount is what it was
    assert figures(db, workspace_id) == before
    # and the other member keeps everything
    for secret in person.other_secrets:
        assert secret in "".join(after.values()), secret
    with db.session_scope() as session:
        assert identity.has_consent(session, person.other_id, ConsentPurpose.marketing)
        assert not identity.has_consent(session, person.member_id, ConsentPurpose.marketing)
    # and the proof names tables and counts, not data
    proof = response.json()
    assert proof["member_ids"] == [person.member_id, person.merged_id]
    assert proof["tables"]["identities"] == {"action": "delete", "rows": 4}
    assert proof["tables"]["mp_sessions"] == {"action": "delete", "rows": 1}
    assert proof["tables"]["wechat_pushes"] == {"action": "delete", "rows": 1}
    assert proof["tables"]["events"]["rows"] == 3
    assert len(proof["digest"]) == 64
    for secret in person.secrets:
        assert secret not in str(proof)
    assert "member.erased" in audit_actions(db)


def test_the_proof_confirms_an_identifier_later(
    db: Database, workspace_id: int, person: Person, owner: Principal
) -> None:
    with db.session_scope() as session:
        identity.erase_member(
            session, workspace_id, person.member_id, actor=owner.actor, via="staff"
        )
    with db.session_scope() as session:
        assert identity.was_erased(session, workspace_id, person.secrets[0])
        assert not identity.was_erased(session, workspace_id, person.other_secrets[0])


def test_erasing_a_merged_member_erases_the_whole_person(
    db: Database, workspace_id: int, person: Person, owner: Principal
) -> None:
    # when the id of the member merged away is named
    with db.session_scope() as session:
        proof = identity.erase_member(
            session, workspace_id, person.merged_id, actor=owner.actor, via="staff"
        )
    # then the person (survivor first) is erased
    assert proof.member_ids == [person.member_id, person.merged_id]
    with db.session_scope() as session:
        assert session.get(Member, person.member_id).erased_at is not None  # type: ignore[union-attr]


def test_member_of_another_workspace_cannot_be_erased(
    db: Database, person: Person, app_client: TestClient
) -> None:
    # given an admin of another workspace
    from siyu.workspaces import service as workspaces
    from tests.support.security import make_staff

    with db.session_scope() as session:
        other = workspaces.create_workspace(session, "别家").id
    intruder: Staff = make_staff(db, other, Role.admin, "intruder@example.com")
    before = row_counts(db, without=("audit_log",))
    # when they try to erase or export our member by id
    erased = app_client.post(f"/api/members/{person.member_id}/erase", headers=intruder.headers)
    exported = app_client.get(f"/api/members/{person.member_id}/export", headers=intruder.headers)
    # then the member does not exist for them, and nothing changed
    assert erased.status_code == exported.status_code == 404
    assert erased.json()["code"] == "identity.member_not_found"
    assert row_counts(db, without=("audit_log",)) == before


def test_an_unknown_table_in_the_database_stops_the_erasure(
    db: Database, workspace_id: int, person: Person, owner: Principal
) -> None:
    # given a table in the database that no loaded model declares
    extra = Table("stray_personal_data", MetaData(), Column("phone", String(20)))
    extra.create(db.engine)
    try:
        before = row_counts(db)
        # when an erasure is asked for
        with pytest.raises(SiyuError) as caught, db.session_scope() as session:
            identity.erase_member(
                session, workspace_id, person.member_id, actor=owner.actor, via="staff"
            )
        # then it is refused and nothing was erased
        assert getattr(caught.value, "code", None) == "security.erasure_incomplete"
        assert caught.value.data["unknown"] == ["stray_personal_data"]
        assert row_counts(db) == before
    finally:
        extra.drop(db.engine)


def test_a_member_erases_themselves_from_the_mini_program(
    db: Database, person: Person, app_client: TestClient
) -> None:
    headers = {"Authorization": f"Bearer {MP_TOKEN}"}
    # when the member asks from the Mini Program
    response = app_client.post(f"/api/mp/{MP_APPID}/me/erase", headers=headers)
    # then they are erased and their session ends with it
    assert response.status_code == 200, response.text
    assert response.json()["erased"] is True
    again = app_client.get(f"/api/mp/{MP_APPID}/me/export", headers=headers)
    assert again.status_code == 401
    with db.session_scope() as session:
        record = session.scalars(select(ErasureRecord)).one()
    assert record.requested_via == "member"
    assert record.actor == f"mp:member:{person.member_id}"


# --- export --------------------------------------------------------------------------------


def test_a_member_exports_their_own_data_without_secrets(
    db: Database, person: Person, app_client: TestClient
) -> None:
    response = app_client.get(
        f"/api/mp/{MP_APPID}/me/export", headers={"Authorization": f"Bearer {MP_TOKEN}"}
    )
    assert response.status_code == 200
    data = response.json()
    text_ = str(data)
    for secret in ("13912345678", "张小红", person.secrets[0], person.secrets[1]):
        assert secret in text_
    # the session key and token hash are siyu's secrets, not the member's data
    assert "c2Vzc2lvbi1rZXktc2VjcmV0" not in text_
    assert "token_hash" not in str(data["tables"]["mp_sessions"])
    assert set(data["tables"]) >= {"members", "identities", "events", "consents", "mp_sessions"}
    for secret in person.other_secrets:
        assert secret not in text_
    assert "member.exported" in audit_actions(db)


def test_staff_export_is_a_permission_of_owner_and_admin(
    person: Person, app_client: TestClient, staff: dict[Role, Staff]
) -> None:
    for role, expected in ((Role.admin, 200), (Role.operator, 403), (Role.sales, 403)):
        response = app_client.get(
            f"/api/members/{person.member_id}/export", headers=staff[role].headers
        )
        assert response.status_code == expected, role


def test_policy_constructors_describe_themselves() -> None:
    assert Erasure.none("x").matches_members is False
    assert Erasure.delete(member=("member_id",)).matches_members is True
