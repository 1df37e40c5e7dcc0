"""Demo protocol (written for the CLUE kit, not the CLUE prompts): questions about a discharge note."""

sys_prompt = (
    "You explain hospital discharge notes to patients in plain words. "
    "Answer the question about the note in one or two short sentences."
)

user_prompt_template = """Discharge note:
{without_discharge_summary}

Question from the patient: {Question}"""

assistant_response_start = "Answer: "
assistant_response_template = assistant_response_start + """{Answer}"""

ground_truth_key = "Answer"
max_new_tokens = 200
