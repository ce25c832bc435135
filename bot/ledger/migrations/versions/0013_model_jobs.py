"""model jobs and the dialogue route: train, evaluate, activate and roll back models; which Rasa server is live

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'model_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('lane', sa.String(length=16), nullable=False),
        sa.Column('model', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('worker', sa.String(length=128), nullable=True),
        sa.Column('requested_by', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('override_reason', sa.Text(), nullable=True),
        sa.Column('progress', sa.JSON(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['requested_by'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('model_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_jobs_model'), ['model'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_jobs_status'), ['status'], unique=False)
        batch_op.create_index('uq_model_jobs_running_lane', ['lane'], unique=True,
                              sqlite_where=sa.text("status = 'running'"),
                              postgresql_where=sa.text("status = 'running'"))
    op.create_table(
        'dialogue_routes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('live_url', sa.String(length=255), nullable=False),
        sa.Column('live_model', sa.String(length=64), nullable=False),
        sa.Column('previous_model', sa.String(length=64), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('changed_by_job', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['changed_by_job'], ['model_jobs.id']),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('dialogue_routes')
    with op.batch_alter_table('model_jobs', schema=None) as batch_op:
        batch_op.drop_index('uq_model_jobs_running_lane')
        batch_op.drop_index(batch_op.f('ix_model_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_model_jobs_model'))
    op.drop_table('model_jobs')
