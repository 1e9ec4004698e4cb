"""Key rotation: every encrypted column found from the models, re-encrypted in resumable
batches, never overwriting a value written meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from siyu.core.config import Settings
from siyu.core.crypto import EncryptedText, FieldCipher, configure_crypto, generate_data_key
from siyu.core.db import Base, Database
from siyu.identity.models import Identity
from siyu.security.models import KeyRotation
from siyu.security.schemas import Principal
from siyu.security.service import rotation
from siyu.workspaces.schemas import AppRead
from tests.support.people import Person, make_person


@pytest.fixture
def person(
    db: Database, workspace_id: int, mp_app: AppRead, oa_app: AppRead, owner: Principal
) -> Person:
    return make_person(db, workspace_id, mp_app, oa_app, owner)


@pytest.fixture
def new_key(settings: Settings) -> Iterator[str]:
    """A new data key first in the list, the old one kept to decrypt."""
    spec = f"k2:{generate_data_key()},{settings.data_keys.get_secret_value()}"
    configure_crypto(settings.model_copy(update={"data_keys": SecretStr(spec)}))
    yield "k2"
    configure_crypto(settings)


def key_ids(db: Database) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    with db.session_scope() as session:
        for col in rotation.encrypted_columns():
            raw = col.raw()
            values = session.scalars(
                select(raw.c[col.column]).where(raw.c[col.column].is_not(None))
            )
            found[col.name] = {FieldCipher.key_id_of(v) for v in values}
    return found


def run_to_end(db: Database, run_id: int, batch: int) -> int:
    steps = 0
    while True:
        with db.session_scope() as session:
            if rotation.rotation_step(session, run_id, batch).column is None:
                return steps
        steps += 1


def test_every_encrypted_column_of_every_model_is_found() -> None:
    declared = {
        f"{t.name}.{c.name}"
        for t in Base.metadata.sorted_tables
        for c in t.columns
        if isinstance(c.type, EncryptedText)
    }
    assert {c.name for c in rotation.encrypted_columns()} == declared
    assert {"identities.secret", "apps.secret", "mp_sessions.session_key"} <= declared


def test_rotation_reencrypts_everything_and_the_data_reads_the_same(
    db: Database, person: Person, owner: Principal, new_key: str
) -> None:
    # given values under the old key
    with db.session_scope() as session:
        phones_before = sorted(s for s in session.scalars(select(Identity.secret)) if s)
    assert all(new_key not in ids for ids in key_ids(db).values())
    # when a rotation runs in small batches
    with db.session_scope() as session:
        run = rotation.start_rotation(session, owner.actor)
    steps = run_to_end(db, run.id, batch=2)
    # then every value is under the new key, and reads the same
    assert steps > 3
    assert all(ids <= {new_key} for ids in key_ids(db).values())
    with db.session_scope() as session:
        assert sorted(s for s in session.scalars(select(Identity.secret)) if s) == phones_before
        assert sum(rotation.rotation_pending(session).values()) == 0
        finished = session.get(KeyRotation, run.id)
    assert finished is not None
    assert finished.finished_at is not None
    assert finished.rows_rewritten == sum(rotation_totals(db).values())


def rotation_totals(db: Database) -> dict[str, int]:
    with db.session_scope() as session:
        return rotation.rotation_totals(session)


def test_an_interrupted_rotation_resumes_where_it_stopped(
    db: Database, person: Person, owner: Principal, new_key: str
) -> None:
    # given a rotation interrupted after three batches
    with db.session_scope() as session:
        run = rotation.start_rotation(session, owner.actor)
    for _ in range(3):
        with db.session_scope() as session:
            rotation.rotation_step(session, run.id, 2)
    with db.session_scope() as session:
        saved = session.get(KeyRotation, run.id)
        assert saved is not None
        done_before = saved.rows_rewritten
        cursors = dict(saved.cursors)
    assert done_before > 0
    assert cursors
    # when it is started again (a new process)
    with db.session_scope() as session:
        resumed = rotation.start_rotation(session, owner.actor)
    # then it is the same run, and it finishes without redoing the work done
    assert resumed.id == run.id
    run_to_end(db, run.id, 2)
    with db.session_scope() as session:
        final = session.get(KeyRotation, run.id)
        assert final is not None
        assert final.rows_rewritten == sum(rotation.rotation_totals(session).values())
        assert sum(rotation.rotation_pending(session).values()) == 0


@pytest.mark.postgres_only
def test_a_value_written_during_the_rotation_is_not_overwritten(
    db: Database, person: Person, owner: Principal, new_key: str
) -> None:
    assert db.dialect == "postgresql"  # SQLite has one writer: nothing writes during a batch
    # given a process still on the old key that rewrites a phone while the rotation reads it
    with db.session_scope() as session:
        run = rotation.start_rotation(session, owner.actor)
        identity_id = session.scalars(
            select(Identity.id).where(Identity.secret.is_not(None))
        ).first()
    original_step = FieldCipher.decrypt

    def racing_decrypt(self: FieldCipher, token: str, context: str) -> str:
        if context == "identities.secret":
            with db.engine.begin() as conn:  # the other process commits in between
                conn.execute(
                    update(Identity.__table__).where(Identity.__table__.c.id == identity_id),  # type: ignore[arg-type]
                    {"secret": "+8613700000000"},
                )
        return original_step(self, token, context)

    # when the rotation rewrites that column
    mp = pytest.MonkeyPatch()
    mp.setattr(FieldCipher, "decrypt", racing_decrypt)
    try:
        with db.session_scope() as session:
            while rotation.rotation_step(session, run.id, 100).column != "identities.secret":
                pass
    finally:
        mp.undo()
    # then the newer value survives
    with db.session_scope() as session:
        assert session.get(Identity, identity_id).secret == "+8613700000000"  # type: ignore[union-attr]


def test_a_new_key_starts_a_new_run(
    db: Database, person: Person, owner: Principal, settings: Settings
) -> None:
    with db.session_scope() as session:
        first = rotation.start_rotation(session, owner.actor)
    configure_crypto(
        settings.model_copy(
            update={
                "data_keys": SecretStr(
                    f"k3:{generate_data_key()},{settings.data_keys.get_secret_value()}"
                )
            }
        )
    )
    try:
        with db.session_scope() as session:
            second = rotation.start_rotation(session, owner.actor)
            assert session.get(KeyRotation, first.id).finished_at is not None  # type: ignore[union-attr]
        assert second.id != first.id
        assert second.key_id == "k3"
    finally:
        configure_crypto(settings)
