"""From the runs' tables to the paper's answers: tidy tables (:mod:`.tables`), claims
(:mod:`.claims`), learning-rate ranges (:mod:`.sensitivity`), the scorecard
(:mod:`.scorecard`), figures (:mod:`.figures`) and the report's catalogue (:mod:`.report`)."""
