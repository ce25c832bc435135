"""console sessions: when a session token was last used, so it ends after CONSOLE_IDLE_MINUTES unused

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('auth_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
    # Sessions issued before this revision count as used when they were issued.
    op.execute("UPDATE auth_tokens SET last_seen_at = created_at WHERE kind = 'session'")


def downgrade() -> None:
    with op.batch_alter_table('auth_tokens', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
