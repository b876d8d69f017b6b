-- Every mart adds up to the fact: a join that multiplied (or lost) sale lines would show here.
{{ marts_reconcile_with_fct_sales([
    ['mart_sales_summary', 'net_revenue'],
    ['mart_city_revenue', 'net_revenue'],
    ['mart_customer_behavior', 'total_spent'],
    ['mart_employee_performance', 'total_revenue'],
]) }}
