"""message replies, templates and processing time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('our_address', sa.String(length=64), nullable=True))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_reply_to_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('template', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_messages_in_reply_to_id'), ['in_reply_to_id'], unique=False)
        batch_op.create_foreign_key('fk_messages_in_reply_to_id', 'messages', ['in_reply_to_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint('fk_messages_in_reply_to_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_messages_in_reply_to_id'))
        batch_op.drop_column('processed_at')
        batch_op.drop_column('template')
        batch_op.drop_column('in_reply_to_id')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('our_address')

