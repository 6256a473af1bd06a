-- The landing zone's reporter and phone never reach the warehouse: the build copies raw.submission_rows
-- without them, and this model names every column it takes rather than selecting *.
with

submission_rows as (
    select * from {{ source('submissions', 'rows') }}
),

final as (
    select
        cast(file_id as integer) as file_id,
        cast(sheet as varchar) as sheet,
        cast(row_number as integer) as row_number,
        cast(report_month as date) as report_month,
        cast(township as varchar) as township_name,
        cast(project_name as varchar) as project_name_as_written,
        cast(project_code as varchar) as project_code,
        cast(patches_done as integer) as patches_done,
        cast(area_done_mu as decimal(14, 4)) as area_done_mu,
        cast(forest_mu as decimal(14, 4)) as forest_mu,
        cast(farmland_mu as decimal(14, 4)) as farmland_mu,
        cast(grassland_mu as decimal(14, 4)) as grassland_mu,
        cast(stage as varchar) as stage,
        cast(invested_10k_yuan as decimal(14, 4)) as invested_10k_yuan,
        cast(fund_higher_level as decimal(14, 4)) as fund_higher_level,
        cast(fund_district as decimal(14, 4)) as fund_district,
        cast(fund_waste_rock as decimal(14, 4)) as fund_waste_rock,
        cast(fund_social as decimal(14, 4)) as fund_social,
        cast(waste_rock_10k_m3 as decimal(14, 4)) as waste_rock_10k_m3,
        cast(supervisor as varchar) as supervisor,
        cast(accepted_on as date) as accepted_on,
        cast(notes as varchar) as notes,
        cast(patches_completed as varchar) as patches_completed_as_written
    from submission_rows
)

select * from final
