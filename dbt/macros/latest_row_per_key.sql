{#-
    A dimension from its deliveries, each a full snapshot: one row per key, from the latest delivery
    that holds the key, and `in_latest_snapshot`, whether the latest delivery holds it at all.

    A member that the latest delivery no longer lists (an employee who left, a discontinued product,
    a closed customer account) keeps its last known row: its sales stay in the fact, and the marts,
    which join the fact to the dimensions, still add up to the fact. Taking only the latest snapshot
    dropped such a member, and every later build failed its reconciliation test.

    A key twice in one delivery stays twice (`rank`, not `row_number`): the dimension's unique test
    fails on it instead of a row being picked at random.
-#}
{% macro latest_row_per_key(relation, key) %}
    select * from (
        select
            *,
            rank() over (partition by {{ key }} order by ingest_date desc) as snapshot_rank,
            ingest_date = max(ingest_date) over () as in_latest_snapshot
        from {{ relation }}
    ) as ranked
    where snapshot_rank = 1
{% endmacro %}
