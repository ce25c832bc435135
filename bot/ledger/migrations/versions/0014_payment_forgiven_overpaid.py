"""payments record what a settlement wrote off and what was paid above the balance, so what was assigned is known

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forgiven', sa.Numeric(precision=18, scale=2), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('overpaid', sa.Numeric(precision=18, scale=2), server_default='0',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('overpaid')
        batch_op.drop_column('forgiven')
