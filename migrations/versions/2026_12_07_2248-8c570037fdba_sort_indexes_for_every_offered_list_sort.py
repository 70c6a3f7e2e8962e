"""sort indexes for every offered list sort

Revision ID: 8c570037fdba
Revises: c3d9e1f0a7b2
Create Date: 2026-12-07 22:48:24.660056+00:00

Every list declares its sorts next to its model (`app.core.sorts.list_sorts`), which attaches
the index each offered sort reads a page from: `(sort column, id)`, behind `dept_id` for the
users of a department-scoped caller and behind `status` for the published notices
(docs/performance.md, "Lists at any size"). The single-column indexes that one of them now
starts with are dropped (no index the lists do not need): `created_at` of the files and the
two logs (also the retention purge's), `sys_user.dept_id`, `sys_notice.status`,
`sys_dict_data.type_code`, and `sys_job_run.status` (a prefix of `(status, heartbeat_at)`).
Also the user-role and user-position links by role / position (the users list's `role_id`
filter; PostgreSQL makes no index for those foreign keys). New indexes are created before the
old ones go, so MariaDB always has an index for the foreign keys on `dept_id` and `type_code`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c570037fdba"
down_revision: str | Sequence[str] | None = "c3d9e1f0a7b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREATED = (
    ("ix_auth_session_created_at_id", "auth_session", ["created_at", "id"]),
    ("ix_auth_session_last_seen_at_id", "auth_session", ["last_seen_at", "id"]),
    ("ix_sys_user_role_role_id_user_id", "sys_user_role", ["role_id", "user_id"]),
    ("ix_sys_user_position_position_id_user_id", "sys_user_position", ["position_id", "user_id"]),
    ("ix_blog_article_title_id", "blog_article", ["title", "id"]),
    ("ix_blog_article_updated_at_id", "blog_article", ["updated_at", "id"]),
    ("ix_sys_dept_created_at_id", "sys_dept", ["created_at", "id"]),
    ("ix_sys_dept_name_id", "sys_dept", ["name", "id"]),
    ("ix_sys_dept_sort_id", "sys_dept", ["sort", "id"]),
    ("ix_sys_dict_data_created_at_id", "sys_dict_data", ["created_at", "id"]),
    ("ix_sys_dict_data_label_id", "sys_dict_data", ["label", "id"]),
    ("ix_sys_dict_data_sort_id", "sys_dict_data", ["sort", "id"]),
    ("ix_sys_dict_data_status_id", "sys_dict_data", ["status", "id"]),
    ("ix_sys_dict_data_type_code_id", "sys_dict_data", ["type_code", "id"]),
    ("ix_sys_dict_data_type_code_sort_id", "sys_dict_data", ["type_code", "sort", "id"]),
    ("ix_sys_dict_data_updated_at_id", "sys_dict_data", ["updated_at", "id"]),
    ("ix_sys_dict_data_value_id", "sys_dict_data", ["value", "id"]),
    ("ix_sys_dict_type_created_at_id", "sys_dict_type", ["created_at", "id"]),
    ("ix_sys_dict_type_name_id", "sys_dict_type", ["name", "id"]),
    ("ix_sys_dict_type_status_id", "sys_dict_type", ["status", "id"]),
    ("ix_sys_dict_type_updated_at_id", "sys_dict_type", ["updated_at", "id"]),
    ("ix_sys_file_created_at_id", "sys_file", ["created_at", "id"]),
    ("ix_sys_file_original_name_id", "sys_file", ["original_name", "id"]),
    ("ix_sys_file_size_id", "sys_file", ["size", "id"]),
    ("ix_sys_job_created_at_id", "sys_job", ["created_at", "id"]),
    ("ix_sys_job_next_run_at_id", "sys_job", ["next_run_at", "id"]),
    ("ix_sys_job_run_duration_ms_id", "sys_job_run", ["duration_ms", "id"]),
    ("ix_sys_job_run_scheduled_at_id", "sys_job_run", ["scheduled_at", "id"]),
    ("ix_sys_job_run_started_at_id", "sys_job_run", ["started_at", "id"]),
    ("ix_sys_login_log_created_at_id", "sys_login_log", ["created_at", "id"]),
    ("ix_sys_menu_created_at_id", "sys_menu", ["created_at", "id"]),
    ("ix_sys_menu_sort_id", "sys_menu", ["sort", "id"]),
    ("ix_sys_menu_title_id", "sys_menu", ["title", "id"]),
    ("ix_sys_notice_published_at_id", "sys_notice", ["published_at", "id"]),
    ("ix_sys_notice_status_id", "sys_notice", ["status", "id"]),
    ("ix_sys_notice_status_published_at_id", "sys_notice", ["status", "published_at", "id"]),
    ("ix_sys_notice_status_title_id", "sys_notice", ["status", "title", "id"]),
    ("ix_sys_notice_title_id", "sys_notice", ["title", "id"]),
    ("ix_sys_notice_type_id", "sys_notice", ["type", "id"]),
    ("ix_sys_notice_updated_at_id", "sys_notice", ["updated_at", "id"]),
    ("ix_sys_operation_log_created_at_id", "sys_operation_log", ["created_at", "id"]),
    ("ix_sys_operation_log_duration_ms_id", "sys_operation_log", ["duration_ms", "id"]),
    ("ix_sys_param_created_at_id", "sys_param", ["created_at", "id"]),
    ("ix_sys_param_name_id", "sys_param", ["name", "id"]),
    ("ix_sys_param_updated_at_id", "sys_param", ["updated_at", "id"]),
    ("ix_sys_position_created_at_id", "sys_position", ["created_at", "id"]),
    ("ix_sys_position_name_id", "sys_position", ["name", "id"]),
    ("ix_sys_position_sort_id", "sys_position", ["sort", "id"]),
    ("ix_sys_role_created_at_id", "sys_role", ["created_at", "id"]),
    ("ix_sys_role_name_id", "sys_role", ["name", "id"]),
    ("ix_sys_role_sort_id", "sys_role", ["sort", "id"]),
    ("ix_sys_user_dept_id_id", "sys_user", ["dept_id", "id"]),
    ("ix_sys_user_dept_id_name_id", "sys_user", ["dept_id", "name", "id"]),
    ("ix_sys_user_dept_id_username", "sys_user", ["dept_id", "username"]),
)
# The generated example module's: its own migration (5e7a1c2d9b01) creates them now, as the
# generator writes it; a database that ran the older text gets them here.
EXAMPLE = (
    ("ix_example_name_id", "example", ["name", "id"]),
    ("ix_example_description_id", "example", ["description", "id"]),
    ("ix_example_created_at_id", "example", ["created_at", "id"]),
    ("ix_example_updated_at_id", "example", ["updated_at", "id"]),
)
# Now a prefix of one of the above.
DROPPED = (
    ("ix_sys_dict_data_type_code", "sys_dict_data", ["type_code"]),
    ("ix_sys_file_created_at", "sys_file", ["created_at"]),
    ("ix_sys_login_log_created_at", "sys_login_log", ["created_at"]),
    ("ix_sys_notice_status", "sys_notice", ["status"]),
    ("ix_sys_operation_log_created_at", "sys_operation_log", ["created_at"]),
    ("ix_sys_user_dept_id", "sys_user", ["dept_id"]),
    ("ix_sys_job_run_status", "sys_job_run", ["status"]),
)


# MariaDB/MySQL keep an index for each foreign key and drop the one they made themselves once
# an index of ours starts with the same column; a downgrade must give it back first.
FOREIGN_KEY_INDEXES = (
    ("fk_sys_user_role_role_id_sys_role", "sys_user_role", ["role_id"]),
    ("fk_sys_user_position_position_id_sys_position", "sys_user_position", ["position_id"]),
)


def _mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    for name, table, columns in CREATED:
        op.create_index(name, table, columns)
    inspector = sa.inspect(op.get_bind())
    if _mysql():  # one this migration's downgrade made
        for name, table, _ in FOREIGN_KEY_INDEXES:
            if name in {index["name"] for index in inspector.get_indexes(table)}:
                op.drop_index(name, table_name=table)
    have = {index["name"] for index in inspector.get_indexes("example")}
    for name, table, columns in EXAMPLE:
        if name not in have:
            op.create_index(name, table, columns)
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    # EXAMPLE stays: on a new database 5e7a1c2d9b01 made those indexes, and drops them with
    # the table.
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
    if _mysql():
        for name, table, columns in FOREIGN_KEY_INDEXES:
            op.create_index(name, table, columns)
    for name, table, _ in reversed(CREATED):
        op.drop_index(name, table_name=table)
