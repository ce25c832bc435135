"""message intents: the model's reading of each inbound message (from the NLU inbox pass), for conversation review

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intent', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('intent_confidence', sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f('ix_messages_intent'), ['intent'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_intent'))
        batch_op.drop_column('intent_confidence')
        batch_op.drop_column('intent')
