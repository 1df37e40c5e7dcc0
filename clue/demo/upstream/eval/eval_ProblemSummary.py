"""Demo protocol (written for the CLUE kit, not the CLUE prompts): problem lists from progress notes."""

sys_prompt = (
    "You read daily progress notes from a hospital ward. "
    "List the active diagnoses and problems of the patient, separated by commas, and nothing else."
)

user_prompt_template = """Subjective part:
{Subjectives}

Assessment part:
{Assessment}

Problem list:"""

assistant_response_start = "Problems: "
assistant_response_template = assistant_response_start + """{Summary}"""

ground_truth_key = "Summary"
max_new_tokens = 100
