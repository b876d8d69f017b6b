-- Argo CD health check for grocery.io/GroceryPipeline (installed in argocd-cm, see ../README.md).
-- Maps the operator's status (phase, observedGeneration, conditions Ready/Degraded/Fresh) to
-- Healthy, Progressing, Degraded or Suspended. A scheduled run in progress is normal operation,
-- so Running is Healthy: Progressing means the operator or Airflow has not caught up with the spec.
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function say(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the pipeline"
  return hs
end

local generation = obj.metadata.generation
local ready = condition(status, "Ready")

-- A spec the operator refuses is never rendered, so observedGeneration stays behind: its Ready
-- condition (InvalidSpec) carries the generation it refused.
if ready ~= nil and ready.status == "False" and ready.reason == "InvalidSpec"
    and (generation == nil or ready.observedGeneration == generation) then
  hs.status = "Degraded"
  hs.message = say(ready, "The operator refuses the spec")
  return hs
end

if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to render generation " .. tostring(generation)
  return hs
end

local phase = status.phase
local degraded = condition(status, "Degraded")
local fresh = condition(status, "Fresh")

if phase == "Suspended" or (obj.spec ~= nil and obj.spec.suspend == true) then
  hs.status = "Suspended"
  hs.message = say(ready, "Scheduled runs are paused (spec.suspend)")
  return hs
end

if phase == "Failed" or (degraded ~= nil and degraded.status == "True") then
  hs.status = "Degraded"
  hs.message = say(degraded, "The last run failed")
  return hs
end

if ready ~= nil and ready.status == "False" then
  if ready.reason == "DagNotLoaded" then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = say(ready, "The pipeline is not ready")
  return hs
end

if phase == "Pending" then
  hs.status = "Progressing"
  hs.message = say(ready, "Waiting for Airflow to load the pipeline's DAG")
  return hs
end

if fresh ~= nil and fresh.status == "False" and fresh.reason == "Stale" then
  hs.status = "Degraded"
  hs.message = say(fresh, "The data is older than spec.freshnessHours")
  return hs
end

if phase == "Ready" or phase == "Running" or phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = say(ready, "Phase " .. phase)
  return hs
end

hs.status = "Progressing"
hs.message = "Unknown phase " .. tostring(phase)
return hs
