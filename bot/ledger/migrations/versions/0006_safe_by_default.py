"""safe by default: demo debtors, escalating verification locks, revocable documents

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('debtors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_demo', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('identity_checks', schema=None) as batch_op:
        batch_op.alter_column('phone_e164', existing_type=sa.String(length=20), type_=sa.String(length=32))
        batch_op.alter_column('verified_phone', existing_type=sa.String(length=20), type_=sa.String(length=32))
        batch_op.add_column(sa.Column('lock_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('needs_review', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('failures_day', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('failures_today', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.alter_column('e164', existing_type=sa.String(length=20), type_=sa.String(length=32))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.alter_column('e164', existing_type=sa.String(length=32), type_=sa.String(length=20))
    with op.batch_alter_table('identity_checks', schema=None) as batch_op:
        batch_op.drop_column('failures_today')
        batch_op.drop_column('failures_day')
        batch_op.drop_column('needs_review')
        batch_op.drop_column('lock_count')
        batch_op.alter_column('verified_phone', existing_type=sa.String(length=32), type_=sa.String(length=20))
        batch_op.alter_column('phone_e164', existing_type=sa.String(length=32), type_=sa.String(length=20))
    with op.batch_alter_table('debtors', schema=None) as batch_op:
        batch_op.drop_column('is_demo')
