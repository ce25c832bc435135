"""an opt-out remembers the debtor's message that asked for it, so that message's answer (the confirmation) still
leaves while every other automated message stops

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_opt_outs_message_id_messages', 'messages', ['message_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.drop_constraint('fk_opt_outs_message_id_messages', type_='foreignkey')
        batch_op.drop_column('message_id')
