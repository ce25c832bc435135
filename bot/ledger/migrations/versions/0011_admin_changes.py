"""admin changes: every edit of training examples and intents, with who, when, before and after; the NLU
inbox of real messages the model was unsure of

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'admin_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('target', sa.String(length=128), nullable=False),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.Column('reverts_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['reverts_id'], ['admin_changes.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('admin_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_changes_at'), ['at'], unique=False)
    op.create_table(
        'nlu_inbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('predicted_intent', sa.String(length=64), nullable=False),
        sa.Column('confidence', sa.Float(), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id']),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id'),
    )
    with op.batch_alter_table('nlu_inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nlu_inbox_predicted_intent'), ['predicted_intent'], unique=False)
        batch_op.create_index(batch_op.f('ix_nlu_inbox_status'), ['status'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inbox_checked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('inbox_checked_at')
    op.drop_table('nlu_inbox')
    with op.batch_alter_table('admin_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_changes_at'))
    op.drop_table('admin_changes')
