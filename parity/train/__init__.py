"""Training, framework-neutral: the contract the implementations satisfy, the plan, the shared loop, metrics."""
