"""Demo protocol (written for the CLUE kit, not the CLUE prompts): ICD-10 coding of a discharge note."""

sys_prompt = (
    "You are a clinical coder. Read the discharge note and give the ICD-10 codes "
    "of every diagnosis it mentions, separated by commas."
)

user_prompt_template = """Discharge note:
{text}

Codes:"""

assistant_response_start = "ICD-10: "
assistant_response_template = assistant_response_start + """{codes}"""

ground_truth_key = "codes"
max_new_tokens = 200
